"""Create the orders schema: product and user replicas, carts, wishlists, orders,
order lines and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 22:00:17.118811
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cancel_reason", sa.String(length=200), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'pending', 'awaiting_payment', 'payment_failed', 'paid',"
            " 'shipped', 'completed', 'cancelled')",
            name=op.f("ck_orders_status_known"),
        ),
        sa.CheckConstraint("total_amount >= 0", name=op.f("ck_orders_total_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        schema="orders",
    )
    op.create_index(
        "ix_orders_expiring",
        "orders",
        ["expires_at"],
        unique=False,
        schema="orders",
        postgresql_where=sa.text("status IN ('awaiting_payment', 'payment_failed')"),
    )
    op.create_index("ix_orders_status", "orders", ["status", "id"], unique=False, schema="orders")
    op.create_index("ix_orders_user", "orders", ["user_id", "id"], unique=False, schema="orders")
    op.create_table(
        "product_replicas",
        sa.Column("product_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price >= 0", name=op.f("ck_product_replicas_price_not_negative")),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_replicas")),
        schema="orders",
    )
    op.create_table(
        "shopping_carts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="open", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('open', 'closed')", name=op.f("ck_shopping_carts_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopping_carts")),
        schema="orders",
    )
    op.create_index(
        "ix_shopping_carts_user", "shopping_carts", ["user_id", "id"], unique=False, schema="orders"
    )
    op.create_index(
        "uq_shopping_carts_open_user",
        "shopping_carts",
        ["user_id"],
        unique=True,
        schema="orders",
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "user_replicas",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_name", sa.String(length=150), server_default="", nullable=False),
        sa.Column("last_name", sa.String(length=150), server_default="", nullable=False),
        sa.Column("version", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_replicas")),
        schema="orders",
    )
    op.create_table(
        "wishlists",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wishlists")),
        schema="orders",
    )
    op.create_index(
        "ix_wishlists_user", "wishlists", ["user_id", "id"], unique=False, schema="orders"
    )
    op.create_index(
        "uq_wishlists_user_name",
        "wishlists",
        ["user_id", sa.literal_column("lower(name)")],
        unique=True,
        schema="orders",
    )
    op.create_table(
        "cart_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("cart_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "quantity BETWEEN 1 AND 1000", name=op.f("ck_cart_items_quantity_range")
        ),
        sa.ForeignKeyConstraint(
            ["cart_id"],
            ["orders.shopping_carts.id"],
            name=op.f("fk_cart_items_cart_id_shopping_carts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["orders.product_replicas.product_id"],
            name=op.f("fk_cart_items_product_id_product_replicas"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_items")),
        sa.UniqueConstraint("cart_id", "product_id", name="uq_cart_items_cart_product"),
        schema="orders",
    )
    op.create_table(
        "order_idempotency_keys",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.orders.id"],
            name=op.f("fk_order_idempotency_keys_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_order_idempotency_keys")),
        schema="orders",
    )
    op.create_index(
        "ix_order_idempotency_keys_created",
        "order_idempotency_keys",
        ["created_at"],
        unique=False,
        schema="orders",
    )
    op.create_table(
        "order_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("line_total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint(
            "quantity BETWEEN 1 AND 1000", name=op.f("ck_order_items_quantity_range")
        ),
        sa.CheckConstraint(
            "unit_price >= 0 AND line_total >= 0", name=op.f("ck_order_items_amounts_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.orders.id"],
            name=op.f("fk_order_items_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
        sa.UniqueConstraint("order_id", "product_id", name="uq_order_items_order_product"),
        schema="orders",
    )
    op.create_table(
        "wishlist_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("wishlist_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["orders.product_replicas.product_id"],
            name=op.f("fk_wishlist_items_product_id_product_replicas"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["wishlist_id"],
            ["orders.wishlists.id"],
            name=op.f("fk_wishlist_items_wishlist_id_wishlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wishlist_items")),
        sa.UniqueConstraint("wishlist_id", "product_id", name="uq_wishlist_items_wishlist_product"),
        schema="orders",
    )


def downgrade() -> None:
    op.drop_table("wishlist_items", schema="orders")
    op.drop_table("order_items", schema="orders")
    op.drop_index(
        "ix_order_idempotency_keys_created", table_name="order_idempotency_keys", schema="orders"
    )
    op.drop_table("order_idempotency_keys", schema="orders")
    op.drop_table("cart_items", schema="orders")
    op.drop_index("uq_wishlists_user_name", table_name="wishlists", schema="orders")
    op.drop_index("ix_wishlists_user", table_name="wishlists", schema="orders")
    op.drop_table("wishlists", schema="orders")
    op.drop_table("user_replicas", schema="orders")
    op.drop_index(
        "uq_shopping_carts_open_user",
        table_name="shopping_carts",
        schema="orders",
        postgresql_where=sa.text("status = 'open'"),
    )
    op.drop_index("ix_shopping_carts_user", table_name="shopping_carts", schema="orders")
    op.drop_table("shopping_carts", schema="orders")
    op.drop_table("product_replicas", schema="orders")
    op.drop_index("ix_orders_user", table_name="orders", schema="orders")
    op.drop_index("ix_orders_status", table_name="orders", schema="orders")
    op.drop_index(
        "ix_orders_expiring",
        table_name="orders",
        schema="orders",
        postgresql_where=sa.text("status IN ('awaiting_payment', 'payment_failed')"),
    )
    op.drop_table("orders", schema="orders")
