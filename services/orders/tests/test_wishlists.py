"""/api/wishlists/ and /api/wishlist-items/: named lists of products, one entry per product."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from orders.db.tables import WishlistItem

Headers = dict[str, str]


async def new_wishlist(client: httpx.AsyncClient, headers: Headers, name: str) -> dict[str, Any]:
    response = await client.post("/api/wishlists/", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add(
    client: httpx.AsyncClient, headers: Headers, wishlist_id: int, product_id: int
) -> httpx.Response:
    return await client.post(
        "/api/wishlist-items/",
        json={"wishlist_id": wishlist_id, "product_id": product_id},
        headers=headers,
    )


async def test_several_named_wishlists_with_items(
    client: httpx.AsyncClient, alice: Headers, make_product: Any
) -> None:
    birthday = await new_wishlist(client, alice, "  Birthday ")
    assert (birthday["name"], birthday["items"], birthday["user_id"]) == ("Birthday", [], 2)
    await new_wishlist(client, alice, "Garden")
    product = await make_product("Hammock", price="49.90")

    added = await add(client, alice, birthday["id"], product.product_id)
    assert added.status_code == 201
    item = added.json()
    assert (item["name"], item["price"], item["available"]) == ("Hammock", "49.90", True)

    detail = (await client.get(f"/api/wishlists/{birthday['id']}/", headers=alice)).json()
    assert [i["product_id"] for i in detail["items"]] == [product.product_id]
    listed = (await client.get("/api/wishlists/", headers=alice)).json()["results"]
    assert [w["name"] for w in listed] == ["Birthday", "Garden"]
    assert (await client.get(f"/api/wishlist-items/{item['id']}/", headers=alice)).json() == item
    only = (
        await client.get(f"/api/wishlist-items/?wishlist={birthday['id']}", headers=alice)
    ).json()
    assert [i["id"] for i in only["results"]] == [item["id"]]


async def test_duplicates_are_409(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, make_product: Any, app: FastAPI
) -> None:
    wishlist = await new_wishlist(client, alice, "Books")
    same_name = await client.post("/api/wishlists/", json={"name": "books"}, headers=alice)
    assert same_name.status_code == 409
    await new_wishlist(client, bob, "Books")  # names are per user

    product = await make_product()
    assert (await add(client, alice, wishlist["id"], product.product_id)).status_code == 201
    again = await add(client, alice, wishlist["id"], product.product_id)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(WishlistItem)) == 1


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 5}]
)
async def test_invalid_wishlist_is_422(
    client: httpx.AsyncClient, alice: Headers, body: dict[str, Any]
) -> None:
    assert (await client.post("/api/wishlists/", json=body, headers=alice)).status_code == 422


async def test_invalid_items(client: httpx.AsyncClient, alice: Headers, make_product: Any) -> None:
    wishlist = await new_wishlist(client, alice, "W")
    retired = await make_product(active=False)
    assert (await add(client, alice, wishlist["id"], retired.product_id)).status_code == 422
    assert (await add(client, alice, wishlist["id"], 987654)).status_code == 422
    assert (await add(client, alice, 987654, retired.product_id)).status_code == 404
    bad = await client.post(
        "/api/wishlist-items/", json={"wishlist_id": "1", "product_id": 1}, headers=alice
    )
    assert bad.status_code == 422


async def test_delete_an_item(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, app: FastAPI
) -> None:
    wishlist = await new_wishlist(client, alice, "W")
    item = (await add(client, alice, wishlist["id"], (await make_product()).product_id)).json()
    url = f"/api/wishlist-items/{item['id']}/"
    assert (await client.delete(url, headers=alice)).status_code == 204
    assert (await client.get(url, headers=alice)).status_code == 404
    assert (await client.delete(url, headers=alice)).status_code == 404
    assert (await client.get(f"/api/wishlists/{wishlist['id']}/", headers=alice)).json()[
        "items"
    ] == []


async def test_someone_elses_wishlists_are_404(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, staff: Headers, make_product: Any
) -> None:
    wishlist = await new_wishlist(client, alice, "Private")
    product = await make_product()
    item = (await add(client, alice, wishlist["id"], product.product_id)).json()
    item_url = f"/api/wishlist-items/{item['id']}/"

    assert (await client.get(f"/api/wishlists/{wishlist['id']}/", headers=bob)).status_code == 404
    assert (await add(client, bob, wishlist["id"], product.product_id)).status_code == 404
    assert (await client.get(item_url, headers=bob)).status_code == 404
    assert (await client.delete(item_url, headers=bob)).status_code == 404
    assert (await client.get("/api/wishlists/", headers=bob)).json()["results"] == []
    assert (await client.get("/api/wishlist-items/", headers=bob)).json()["results"] == []
    assert (await client.get(f"/api/wishlists/{wishlist['id']}/", headers=staff)).status_code == 200
    assert (await client.delete(item_url, headers=staff)).status_code == 404
    assert (await client.get(item_url, headers=alice)).status_code == 200
    assert (await client.get("/api/wishlists/")).status_code == 401


async def _names(app: FastAPI) -> list[str]:
    from orders.db.tables import Wishlist

    async with app.state.engine.connect() as conn:
        return list((await conn.execute(select(Wishlist.name).order_by(Wishlist.id))).scalars())


async def test_rename_a_wishlist(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, app: FastAPI
) -> None:
    books = await new_wishlist(client, alice, "Books")
    await new_wishlist(client, alice, "Garden")
    await new_wishlist(client, bob, "Novels")
    url = f"/api/wishlists/{books['id']}/"

    renamed = await client.patch(url, json={"name": " Novels "}, headers=alice)
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["id"], renamed.json()["name"]) == (books["id"], "Novels")
    assert (await client.get(url, headers=alice)).json()["name"] == "Novels"
    # Another of her lists already has the name (in any case): 409.
    taken = await client.patch(url, json={"name": "GARDEN"}, headers=alice)
    assert taken.status_code == 409
    assert taken.headers["content-type"] == "application/problem+json"
    # Changing only the case of its own name is fine.
    assert (await client.patch(url, json={"name": "NOVELS"}, headers=alice)).status_code == 200
    assert await _names(app) == ["NOVELS", "Garden", "Novels"]


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": None}, [1], {"name": "a\u0000b"}]
)
async def test_invalid_rename_is_422(
    client: httpx.AsyncClient, alice: Headers, app: FastAPI, body: Any
) -> None:
    books = await new_wishlist(client, alice, "Books")
    response = await client.patch(f"/api/wishlists/{books['id']}/", json=body, headers=alice)
    assert response.status_code == 422
    assert await _names(app) == ["Books"]


async def test_delete_a_wishlist_with_its_items(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, app: FastAPI
) -> None:
    books = await new_wishlist(client, alice, "Books")
    garden = await new_wishlist(client, alice, "Garden")
    product = await make_product()
    await add(client, alice, books["id"], product.product_id)
    await add(client, alice, garden["id"], product.product_id)

    deleted = await client.delete(f"/api/wishlists/{books['id']}", headers=alice)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/wishlists/{books['id']}/", headers=alice)).status_code == 404
    assert await _names(app) == ["Garden"]
    async with app.state.engine.connect() as conn:
        left = (await conn.execute(select(WishlistItem.wishlist_id))).scalars().all()
    assert left == [garden["id"]]
    # The name is free again.
    assert (
        await client.post("/api/wishlists/", json={"name": "Books"}, headers=alice)
    ).status_code == 201


async def test_someone_elses_wishlist_is_not_renamed_or_deleted(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, staff: Headers, app: FastAPI
) -> None:
    books = await new_wishlist(client, alice, "Books")
    url = f"/api/wishlists/{books['id']}/"
    for headers in (bob, staff):  # staff read every list but change nobody's
        assert (await client.patch(url, json={"name": "Mine"}, headers=headers)).status_code == 404
        assert (await client.delete(url, headers=headers)).status_code == 404
    assert (await client.patch(url, json={"name": "Mine"})).status_code == 401
    assert (await client.delete(url)).status_code == 401
    assert (await client.delete("/api/wishlists/987654/", headers=alice)).status_code == 404
    assert await _names(app) == ["Books"]


async def test_two_renames_racing_for_one_name_get_one_200_and_one_409(
    client: httpx.AsyncClient, alice: Headers, app: FastAPI
) -> None:
    import asyncio

    lists = [await new_wishlist(client, alice, name) for name in ("Books", "Garden")]
    responses = await asyncio.gather(
        *(
            client.patch(f"/api/wishlists/{w['id']}/", json={"name": "Gifts"}, headers=alice)
            for w in lists
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    names = await _names(app)
    assert names.count("Gifts") == 1
    assert len(names) == 2
