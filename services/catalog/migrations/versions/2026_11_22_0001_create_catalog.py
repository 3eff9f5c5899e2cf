"""Create the catalog: categories, products, reviews, stock reservations.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 21:46:53.163935
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["catalog.categories.id"],
            name=op.f("fk_categories_parent_id_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        schema="catalog",
    )
    op.create_index(
        op.f("ix_catalog_categories_parent_id"),
        "categories",
        ["parent_id"],
        unique=False,
        schema="catalog",
    )
    op.create_index(
        "uq_categories_parent_id_name",
        "categories",
        ["parent_id", sa.literal_column("lower(name)")],
        unique=True,
        schema="catalog",
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "stock_orders",
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
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
            "status IN ('reserved', 'rejected', 'committed', 'released')",
            name=op.f("ck_stock_orders_status_known"),
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_stock_orders")),
        schema="catalog",
    )
    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("stock_quantity", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False),
        sa.Column("rating_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("review_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
                "setweight(to_tsvector('english', coalesce(description, '')), 'B')",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_not_negative")),
        sa.CheckConstraint(
            "review_count >= 0 AND rating_sum >= 0", name=op.f("ck_products_ratings_not_negative")
        ),
        sa.CheckConstraint("stock_quantity >= 0", name=op.f("ck_products_stock_not_negative")),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["catalog.categories.id"],
            name=op.f("fk_products_category_id_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        schema="catalog",
    )
    op.create_index(
        "ix_products_category",
        "products",
        ["category_id", "id"],
        unique=False,
        schema="catalog",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_products_created",
        "products",
        ["created_at", "id"],
        unique=False,
        schema="catalog",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_products_name",
        "products",
        ["name", "id"],
        unique=False,
        schema="catalog",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_products_price",
        "products",
        ["price", "id"],
        unique=False,
        schema="catalog",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_products_search",
        "products",
        ["search_vector"],
        unique=False,
        schema="catalog",
        postgresql_using="gin",
    )
    op.create_index(
        "ix_products_stock",
        "products",
        ["stock_quantity", "id"],
        unique=False,
        schema="catalog",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
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
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating_range")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog.products.id"],
            name=op.f("fk_reviews_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("product_id", "user_id", name="uq_reviews_product_user"),
        schema="catalog",
    )
    op.create_index(
        op.f("ix_catalog_reviews_user_id"), "reviews", ["user_id"], unique=False, schema="catalog"
    )
    op.create_index(
        "ix_reviews_product", "reviews", ["product_id", "id"], unique=False, schema="catalog"
    )
    op.create_table(
        "stock_reservations",
        sa.Column("order_id", sa.BigInteger(), nullable=False),
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
        sa.CheckConstraint("quantity > 0", name=op.f("ck_stock_reservations_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["catalog.stock_orders.order_id"],
            name=op.f("fk_stock_reservations_order_id_stock_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog.products.id"],
            name=op.f("fk_stock_reservations_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("order_id", "product_id", name=op.f("pk_stock_reservations")),
        schema="catalog",
    )


def downgrade() -> None:
    op.drop_table("stock_reservations", schema="catalog")
    op.drop_index("ix_reviews_product", table_name="reviews", schema="catalog")
    op.drop_index(op.f("ix_catalog_reviews_user_id"), table_name="reviews", schema="catalog")
    op.drop_table("reviews", schema="catalog")
    op.drop_index(
        "ix_products_stock",
        table_name="products",
        schema="catalog",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "ix_products_search", table_name="products", schema="catalog", postgresql_using="gin"
    )
    op.drop_index(
        "ix_products_price",
        table_name="products",
        schema="catalog",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "ix_products_name",
        table_name="products",
        schema="catalog",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "ix_products_created",
        table_name="products",
        schema="catalog",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "ix_products_category",
        table_name="products",
        schema="catalog",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_table("products", schema="catalog")
    op.drop_table("stock_orders", schema="catalog")
    op.drop_index(
        "uq_categories_parent_id_name",
        table_name="categories",
        schema="catalog",
        postgresql_nulls_not_distinct=True,
    )
    op.drop_index(
        op.f("ix_catalog_categories_parent_id"), table_name="categories", schema="catalog"
    )
    op.drop_table("categories", schema="catalog")
