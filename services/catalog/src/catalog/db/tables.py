"""Tables of the `catalog` schema."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import MAPPER_ARGS, Timestamps, service_metadata
from shared.events.inbox import inbox_table
from shared.events.outbox import Outbox

SCHEMA = "catalog"
# Weighted so that a match in the name ranks above one in the description.
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'B')"
)


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)
    __mapper_args__ = MAPPER_ARGS


class Category(Timestamps, Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("catalog.categories.id", ondelete="RESTRICT"), index=True
    )


# Sibling names are unique, case-insensitively; top-level categories count as siblings.
Index(
    "uq_categories_parent_id_name",
    Category.parent_id,
    func.lower(Category.name),
    unique=True,
    postgresql_nulls_not_distinct=True,
)


class Product(Timestamps, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("stock_quantity >= 0", name="stock_not_negative"),
        CheckConstraint("review_count >= 0 AND rating_sum >= 0", name="ratings_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    # Units available to sell: reservations take from it, releases give back.
    stock_quantity: Mapped[int] = mapped_column(Integer)
    category_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("catalog.categories.id", ondelete="RESTRICT")
    )
    # Maintained with atomic increments, so the average needs no scan of reviews.
    rating_sum: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    review_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True), deferred=True
    )
    # Deleted products leave the shop but keep their reviews and order history.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    category: Mapped[Category] = relationship(lazy="raise")


_live = Product.deleted_at.is_(None)
Index("ix_products_search", Product.search_vector, postgresql_using="gin")
Index("ix_products_category", Product.category_id, Product.id, postgresql_where=_live)
Index("ix_products_price", Product.price, Product.id, postgresql_where=_live)
Index("ix_products_created", Product.created_at, Product.id, postgresql_where=_live)
Index("ix_products_name", Product.name, Product.id, postgresql_where=_live)
Index("ix_products_stock", Product.stock_quantity, Product.id, postgresql_where=_live)


class Review(Timestamps, Base):
    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("product_id", "user_id", name="uq_reviews_product_user"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    product_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("catalog.products.id", ondelete="CASCADE")
    )
    # A user of the users service; no foreign key across schemas.
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="", server_default="")


Index("ix_reviews_product", Review.product_id, Review.id)


class StockOrder(Timestamps, Base):
    """What the catalog did for one order: its reservation outcome and where it stands.

    One row per order id makes the reservation idempotent: a redelivered OrderPlaced
    finds the row and repeats the recorded answer instead of reserving twice.
    """

    __tablename__ = "stock_orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('reserved', 'rejected', 'committed', 'released')", name="status_known"
        ),
    )

    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))


class StockReservation(Timestamps, Base):
    """Units of one product held for one order until it is paid (committed) or not."""

    __tablename__ = "stock_reservations"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    order_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("catalog.stock_orders.order_id", ondelete="CASCADE"),
        primary_key=True,
    )
    product_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("catalog.products.id", ondelete="RESTRICT"), primary_key=True
    )
    quantity: Mapped[int] = mapped_column(Integer)


# The event backbone's tables in this schema: events published with the data they
# describe (outbox), and events from other services handled once (inbox).
outbox = Outbox(Base.metadata)
inbox = inbox_table(Base.metadata)
