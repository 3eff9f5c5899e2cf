"""Demo and load data: a believable catalog, bulk-loaded with COPY.

    python -m catalog.seed --products 100000 [--reset]     # `make seed SEED_PRODUCTS=...`

Deterministic for a given --seed, so benchmarks and screenshots are repeatable.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from catalog.db.cache import PREFIX
from catalog.events.published import ProductCreated
from catalog.settings import CatalogSettings
from shared.events.envelope import new_event
from shared.redis_client import create_redis

TREE: dict[str, dict[str, list[str]]] = {
    "Books": {
        "Fiction": ["Novels", "Science fiction", "Crime", "Fantasy"],
        "Non-fiction": ["History", "Science", "Cooking", "Travel"],
        "Children": [],
    },
    "Electronics": {
        "Computers": ["Laptops", "Desktops", "Monitors"],
        "Audio": ["Headphones", "Speakers"],
        "Phones": [],
        "Cameras": [],
    },
    "Home": {"Kitchen": ["Cookware", "Knives"], "Furniture": [], "Lighting": []},
    "Garden": {"Tools": [], "Plants": [], "Outdoor furniture": []},
    "Sports": {"Running": [], "Cycling": ["Bikes", "Helmets"], "Fitness": []},
    "Toys": {"Board games": [], "Puzzles": [], "Building sets": []},
    "Fashion": {"Men": [], "Women": [], "Shoes": [], "Bags": []},
    "Music": {"Instruments": ["Guitars", "Keyboards"], "Vinyl": []},
}
ADJECTIVES = [
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Essential",
    "Everyday",
    "Heritage",
    "Modern",
    "Nordic",
    "Premium",
    "Pro",
    "Rugged",
    "Smart",
    "Studio",
    "Ultra",
    "Vintage",
    "Wireless",
    "Handmade",
    "Lightweight",
    "Organic",
]
MATERIALS = [
    "oak",
    "steel",
    "cotton",
    "leather",
    "ceramic",
    "bamboo",
    "carbon",
    "linen",
    "walnut",
    "aluminium",
    "wool",
    "glass",
]
NOUNS: dict[str, list[str]] = {
    "Books": ["Guide", "Atlas", "Novel", "Handbook", "Anthology", "Chronicle", "Companion"],
    "Electronics": ["Laptop", "Monitor", "Headphones", "Speaker", "Camera", "Charger", "Tablet"],
    "Home": ["Lamp", "Skillet", "Chef's knife", "Armchair", "Shelf", "Kettle", "Rug"],
    "Garden": ["Spade", "Planter", "Hose", "Bench", "Pruner", "Lantern"],
    "Sports": ["Running shoes", "Helmet", "Yoga mat", "Water bottle", "Road bike", "Kettlebell"],
    "Toys": ["Puzzle", "Board game", "Building set", "Kite", "Train set"],
    "Fashion": ["Jacket", "Sneakers", "Backpack", "Scarf", "Boots", "Tote bag"],
    "Music": ["Guitar", "Keyboard", "Record", "Ukulele", "Drum pad"],
}
SENTENCES = [
    "Made from {material} for years of daily use.",
    "A {adjective_lower} take on a favourite, tested by our team.",
    "Ships in recyclable packaging within two working days.",
    "Designed in small batches with attention to every detail.",
    "Rated highly by customers for comfort and durability.",
    "Comes with a two-year warranty and free returns.",
    "Pairs well with the rest of the {top} range.",
]


@dataclass
class Loaded:
    categories: int
    products: int
    reviews: int
    seconds: float


def _plain_url(settings: CatalogSettings) -> str:
    return settings.database_url.get_secret_value().replace(
        "postgresql+asyncpg://", "postgresql://"
    )


async def _insert_categories(conn: asyncpg.Connection) -> list[tuple[int, str]]:
    """Insert the tree; returns (id, top-level name) for every category."""
    leaves: list[tuple[int, str]] = []

    async def add(name: str, parent: int | None, top: str) -> int:
        category_id: int = await conn.fetchval(
            "INSERT INTO catalog.categories (name, parent_id) VALUES ($1, $2) RETURNING id",
            name,
            parent,
        )
        leaves.append((category_id, top))
        return category_id

    for top, children in TREE.items():
        top_id = await add(top, None, top)
        for child, grandchildren in children.items():
            child_id = await add(child, top_id, top)
            for grandchild in grandchildren:
                await add(grandchild, child_id, top)
    return leaves


async def load(settings: CatalogSettings, *, products: int, reset: bool, seed: int = 42) -> Loaded:
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 (demo data, repeatable on purpose)
    conn = await asyncpg.connect(_plain_url(settings))
    try:
        async with conn.transaction():
            empty = not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM catalog.categories)")
            if not empty and not reset:
                raise SystemExit("The catalog is not empty; pass --reset to replace it.")
            # Restarting the identities lets review rows name products by position.
            await conn.execute(
                "TRUNCATE catalog.stock_reservations, catalog.stock_orders, catalog.reviews,"
                " catalog.products, catalog.categories RESTART IDENTITY CASCADE"
            )
            categories = await _insert_categories(conn)
            now = datetime.now(UTC)
            product_rows = []
            review_rows = []
            # Other services learn the products as from any other write: ProductCreated
            # events in the outbox, in the same transaction.
            event_rows = []
            for product_id in range(1, products + 1):
                category_id, top = rng.choice(categories)
                adjective = rng.choice(ADJECTIVES)
                name = f"{adjective} {rng.choice(MATERIALS)} {rng.choice(NOUNS[top]).lower()}"
                description = " ".join(
                    s.format(
                        material=rng.choice(MATERIALS), adjective_lower=adjective.lower(), top=top
                    )
                    for s in rng.sample(SENTENCES, 3)
                )
                price = Decimal(rng.randint(199, 250_000)) / 100
                stock = 0 if rng.random() < 0.05 else rng.randint(1, 500)
                ratings = [
                    rng.choice((3, 4, 4, 5, 5, 2, 1)) for _ in range(rng.choice((0, 0, 0, 1, 2, 5)))
                ]
                created = now - timedelta(seconds=(products - product_id) * 7)
                product_rows.append(
                    (
                        name,
                        description,
                        price,
                        stock,
                        category_id,
                        sum(ratings),
                        len(ratings),
                        created,
                        created,
                    )
                )
                for n, rating in enumerate(ratings):
                    review_rows.append(
                        (product_id, 1000 + n, rating, "Does what it says.", created, created)
                    )
                created_event = new_event(
                    ProductCreated(
                        product_id=product_id,
                        name=name,
                        price=price,
                        stock_quantity=stock,
                        category_id=category_id,
                        active=True,
                    ),
                    aggregate_id=product_id,
                )
                event_rows.append(
                    (
                        created_event.event_id,
                        created_event.type,
                        created_event.aggregate_id,
                        created_event.model_dump_json(),
                    )
                )
            await conn.copy_records_to_table(
                "products",
                schema_name="catalog",
                records=product_rows,
                columns=[
                    "name",
                    "description",
                    "price",
                    "stock_quantity",
                    "category_id",
                    "rating_sum",
                    "review_count",
                    "created_at",
                    "updated_at",
                ],
            )
            await conn.copy_records_to_table(
                "reviews",
                schema_name="catalog",
                records=review_rows,
                columns=["product_id", "user_id", "rating", "comment", "created_at", "updated_at"],
            )
            await conn.copy_records_to_table(
                "outbox",
                schema_name="catalog",
                records=event_rows,
                columns=["event_id", "type", "aggregate_id", "envelope"],
            )
        await conn.execute("ANALYZE catalog.categories, catalog.products, catalog.reviews")
    finally:
        await conn.close()

    # Cached pages of the old catalog must not survive it.
    redis = create_redis(settings, cache=True)
    try:
        async for key in redis.scan_iter(match=f"{PREFIX}:*", count=1000):
            await redis.unlink(key)
    finally:
        await redis.aclose()
    return Loaded(len(categories), products, len(review_rows), time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m catalog.seed", description=__doc__)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--reset", action="store_true", help="replace an existing catalog")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    loaded = asyncio.run(
        load(CatalogSettings(), products=args.products, reset=args.reset, seed=args.seed)
    )
    print(
        f"loaded {loaded.categories} categories, {loaded.products} products and "
        f"{loaded.reviews} reviews in {loaded.seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
