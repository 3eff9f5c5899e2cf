"""Tables of the `orders` schema."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import MAPPER_ARGS, Timestamps, service_metadata
from shared.events.inbox import inbox_table
from shared.events.outbox import Outbox
from shared.idempotency import IdempotencyRecordColumns

SCHEMA = "orders"
STATUSES = (
    "draft",
    "pending",
    "awaiting_payment",
    "payment_failed",
    "paid",
    "shipped",
    "completed",
    "cancelled",
)
QUANTITY_RANGE = "quantity BETWEEN 1 AND 1000"
OPEN_CART = "status = 'open'"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)
    __mapper_args__ = MAPPER_ARGS


class ProductReplica(Base):
    """What orders knows of a catalog product, kept current by catalog events."""

    __tablename__ = "product_replicas"
    __table_args__ = (CheckConstraint("price >= 0", name="price_not_negative"),)

    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    active: Mapped[bool] = mapped_column(Boolean)
    # When the catalog event that last wrote the row happened: an older event never wins.
    version: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserReplica(Base):
    """What orders knows of a user (for confirmation emails), kept current by users events."""

    __tablename__ = "user_replicas"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str] = mapped_column(String(150), default="", server_default="")
    last_name: Mapped[str] = mapped_column(String(150), default="", server_default="")
    version: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Cart(Timestamps, Base):
    __tablename__ = "shopping_carts"
    __table_args__ = (CheckConstraint("status IN ('open', 'closed')", name="status_known"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # A user of the users service; no foreign key across schemas.
    user_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="open", server_default="open")

    items: Mapped[list[CartItem]] = relationship(
        lazy="raise", order_by="CartItem.id", back_populates="cart"
    )


# One open cart per user: concurrent "give me my cart" requests cannot make two.
Index(
    "uq_shopping_carts_open_user",
    Cart.user_id,
    unique=True,
    postgresql_where=text(OPEN_CART),
)
Index("ix_shopping_carts_user", Cart.user_id, Cart.id)


class CartItem(Timestamps, Base):
    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("cart_id", "product_id", name="uq_cart_items_cart_product"),
        CheckConstraint(QUANTITY_RANGE, name="quantity_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    cart_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("orders.shopping_carts.id", ondelete="CASCADE")
    )
    product_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("orders.product_replicas.product_id", ondelete="RESTRICT")
    )
    quantity: Mapped[int] = mapped_column(Integer)

    cart: Mapped[Cart] = relationship(lazy="raise", back_populates="items")
    product: Mapped[ProductReplica] = relationship(lazy="raise")


class Wishlist(Timestamps, Base):
    __tablename__ = "wishlists"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(100))

    items: Mapped[list[WishlistItem]] = relationship(lazy="raise", order_by="WishlistItem.id")


# A user's wishlists are told apart by name, case-insensitively.
Index("uq_wishlists_user_name", Wishlist.user_id, func.lower(Wishlist.name), unique=True)
Index("ix_wishlists_user", Wishlist.user_id, Wishlist.id)


class WishlistItem(Base):
    __tablename__ = "wishlist_items"
    __table_args__ = (
        UniqueConstraint("wishlist_id", "product_id", name="uq_wishlist_items_wishlist_product"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    wishlist_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("orders.wishlists.id", ondelete="CASCADE")
    )
    product_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("orders.product_replicas.product_id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    wishlist: Mapped[Wishlist] = relationship(lazy="raise", back_populates="items")
    product: Mapped[ProductReplica] = relationship(lazy="raise")


class Order(Timestamps, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="status_known"
        ),
        CheckConstraint("total_amount >= 0", name="total_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    total_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    # End of the payment window; unpaid orders past it are cancelled and free their stock.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    items: Mapped[list[OrderItem]] = relationship(
        lazy="raise", order_by="OrderItem.id", back_populates="order"
    )


Index("ix_orders_user", Order.user_id, Order.id)
Index("ix_orders_status", Order.status, Order.id)
# The expiry sweep reads only orders still waiting for their money.
Index(
    "ix_orders_expiring",
    Order.expires_at,
    postgresql_where=text("status IN ('awaiting_payment', 'payment_failed')"),
)


class OrderItem(Base):
    """One line of an order: what was bought, at the price it had when it was bought."""

    __tablename__ = "order_items"
    __table_args__ = (
        UniqueConstraint("order_id", "product_id", name="uq_order_items_order_product"),
        CheckConstraint(QUANTITY_RANGE, name="quantity_range"),
        CheckConstraint("unit_price >= 0 AND line_total >= 0", name="amounts_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("orders.orders.id", ondelete="CASCADE")
    )
    # No foreign key to the replica: the line is a snapshot that outlives the product.
    product_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    line_total: Mapped[Decimal] = mapped_column(Numeric(12, 2))

    order: Mapped[Order] = relationship(lazy="raise", back_populates="items")


class IdempotencyKey(IdempotencyRecordColumns, Base):
    """A client's `Idempotency-Key` for creating or placing an order, and the answer it
    got (`shared.idempotency`)."""

    __tablename__ = "order_idempotency_keys"


# The event backbone's tables in this schema: events published with the data they
# describe (outbox), and events from other services handled once (inbox).
outbox = Outbox(Base.metadata)
inbox = inbox_table(Base.metadata)


class ProductSales(Base):
    """Units and revenue per product over paid orders, for the bestsellers report.

    Maintained by the `orders-reports` consumer from OrderPaid / OrderCancelled, off the
    checkout path, so the report reads ten rows whatever the number of orders.
    """

    __tablename__ = "product_sales"

    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    revenue: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))


Index("ix_product_sales_units", ProductSales.units.desc(), ProductSales.product_id)


class CustomerStats(Base):
    """Paid orders and money spent per customer (maintained like ProductSales)."""

    __tablename__ = "customer_stats"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    orders_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_spent: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))


Index("ix_customer_stats_spent", CustomerStats.total_spent.desc(), CustomerStats.user_id)
