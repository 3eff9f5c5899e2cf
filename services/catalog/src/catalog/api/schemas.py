"""Request and response bodies of the catalog API."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer
from sqlalchemy import Row

from catalog.db.products import PageRow
from catalog.db.tables import Product
from shared.api.ids import BodyId

CENT = Decimal("0.01")
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Money = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=12,
        decimal_places=2,
        examples=["12000.99"],
        description="A decimal string (a JSON number is accepted): at least 0, at most 10"
        " digits before the point and 2 after (9999999999.99).",
    ),
]
Stock = Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]
Rating = Annotated[int, Field(ge=1, le=5, strict=True)]


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    parent_id: BodyId | None = None


class CategoryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    parent_id: BodyId | None = Field(default=None, description="null moves it to the top level.")


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    parent_id: int | None
    created_at: datetime
    updated_at: datetime


class CategoryNode(BaseModel):
    id: int
    name: str
    children: list[CategoryNode]


class CategoryRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: str = Field(default="", max_length=10_000)
    price: Money
    stock_quantity: Stock
    category_id: BodyId


class ProductPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: str | None = Field(default=None, max_length=10_000)
    price: Money | None = None
    stock_quantity: Stock | None = None
    category_id: BodyId | None = None


class ProductOut(BaseModel):
    id: int
    name: str
    description: str
    price: Decimal = Field(json_schema_extra={"type": "string", "format": "decimal"})
    stock_quantity: int
    in_stock: bool
    category: CategoryRef
    rating_avg: Decimal | None = Field(json_schema_extra={"type": ["string", "null"]})
    review_count: int
    created_at: datetime
    updated_at: datetime

    @field_serializer("price", "rating_avg")
    def _two_places(self, value: Decimal | None) -> str | None:
        return None if value is None else str(value.quantize(CENT))

    @classmethod
    def of(cls, product: Product | PageRow) -> ProductOut:
        """From the ORM object with its category, or a `db.products.get_page` row."""
        if isinstance(product, Row):
            category = CategoryRef(id=product.category_id, name=product.category_name)
        else:
            category = CategoryRef.model_validate(product.category)
        average = None
        if product.review_count:
            average = (Decimal(product.rating_sum) / product.review_count).quantize(
                CENT, rounding=ROUND_HALF_UP
            )
        return cls(
            id=product.id,
            name=product.name,
            description=product.description,
            price=product.price,
            stock_quantity=product.stock_quantity,
            in_stock=product.stock_quantity > 0,
            category=category,
            rating_avg=average,
            review_count=product.review_count,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: BodyId
    rating: Rating
    comment: str = Field(default="", max_length=5_000)


class ReviewPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Rating | None = None
    comment: str | None = Field(default=None, max_length=5_000)


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    product_id: int
    user_id: int
    rating: int
    comment: str
    created_at: datetime
    updated_at: datetime
