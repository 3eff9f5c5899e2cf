"""/api/categories/: reading the tree, staff-only writes, names, cycles, deletes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


async def test_list_get_and_filters(client: httpx.AsyncClient, make_category: Any) -> None:
    books = await make_category("Books")
    fiction = await make_category("Fiction", parent_id=books.id)
    await make_category("Music")

    everything = await client.get("/api/categories/")
    assert everything.status_code == 200
    assert [c["name"] for c in everything.json()["results"]] == ["Books", "Fiction", "Music"]

    children = await client.get(f"/api/categories/?parent={books.id}")
    assert [c["id"] for c in children.json()["results"]] == [fiction.id]
    top = await client.get("/api/categories/?top_level=true")
    assert [c["name"] for c in top.json()["results"]] == ["Books", "Music"]

    one = await client.get(f"/api/categories/{fiction.id}/")
    assert one.status_code == 200
    assert one.json()["parent_id"] == books.id
    missing = await client.get("/api/categories/999999/")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_tree(client: httpx.AsyncClient, make_category: Any) -> None:
    books = await make_category("Books")
    fiction = await make_category("Fiction", parent_id=books.id)
    await make_category("Poetry", parent_id=fiction.id)
    await make_category("Art")
    tree = (await client.get("/api/categories/tree/")).json()
    assert tree == [
        {"id": tree[0]["id"], "name": "Art", "children": []},
        {
            "id": books.id,
            "name": "Books",
            "children": [
                {
                    "id": fiction.id,
                    "name": "Fiction",
                    "children": [
                        {
                            "id": tree[1]["children"][0]["children"][0]["id"],
                            "name": "Poetry",
                            "children": [],
                        }
                    ],
                }
            ],
        },
    ]


async def test_writes_are_staff_only(
    client: httpx.AsyncClient, alice: dict[str, str], make_category: Any
) -> None:
    category = await make_category()
    for method, path, body in [
        ("POST", "/api/categories/", {"name": "New"}),
        ("PATCH", f"/api/categories/{category.id}/", {"name": "Renamed"}),
        ("DELETE", f"/api/categories/{category.id}/", None),
    ]:
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401
        customer = await client.request(method, path, json=body, headers=alice)
        assert customer.status_code == 403
        assert customer.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"/api/categories/{category.id}/")).json()["name"] == "Books"


async def test_create_and_sibling_names(client: httpx.AsyncClient, staff: dict[str, str]) -> None:
    books = await client.post("/api/categories/", json={"name": "Books"}, headers=staff)
    assert books.status_code == 201
    books_id = books.json()["id"]
    assert books.json()["parent_id"] is None
    child = await client.post(
        "/api/categories/", json={"name": "Fiction", "parent_id": books_id}, headers=staff
    )
    assert child.status_code == 201
    # Same name among top-level categories, and among siblings, case-insensitively: 409.
    for body in ({"name": "books"}, {"name": "FICTION", "parent_id": books_id}):
        duplicate = await client.post("/api/categories/", json=body, headers=staff)
        assert duplicate.status_code == 409
    # The same name elsewhere in the tree is fine.
    elsewhere = await client.post(
        "/api/categories/", json={"name": "Books", "parent_id": books_id}, headers=staff
    )
    assert elsewhere.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": "A", "parent_id": 0},
        {"name": "A", "parent_id": "x"},
        {"name": "A", "extra": 1},
    ],
)
async def test_invalid_category_is_422(
    client: httpx.AsyncClient, staff: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.post("/api/categories/", json=body, headers=staff)
    assert response.status_code == 422
    assert (await client.get("/api/categories/")).json()["results"] == []


async def test_unknown_parent_is_422(client: httpx.AsyncClient, staff: dict[str, str]) -> None:
    response = await client.post(
        "/api/categories/", json={"name": "Orphan", "parent_id": 999999}, headers=staff
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "parent_id"]


async def test_rename_and_move(
    client: httpx.AsyncClient, staff: dict[str, str], make_category: Any
) -> None:
    books = await make_category("Books")
    music = await make_category("Music")
    renamed = await client.patch(
        f"/api/categories/{music.id}/", json={"name": "Records"}, headers=staff
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Records"
    assert renamed.json()["parent_id"] is None
    moved = await client.patch(
        f"/api/categories/{music.id}/", json={"parent_id": books.id}, headers=staff
    )
    assert moved.json()["parent_id"] == books.id
    assert moved.json()["name"] == "Records"
    back = await client.patch(
        f"/api/categories/{music.id}/", json={"parent_id": None}, headers=staff
    )
    assert back.json()["parent_id"] is None


async def test_cycles_are_refused(
    client: httpx.AsyncClient, staff: dict[str, str], make_category: Any
) -> None:
    a = await make_category("A")
    b = await make_category("B", parent_id=a.id)
    c = await make_category("C", parent_id=b.id)
    for target, parent in [(a.id, a.id), (a.id, c.id), (b.id, c.id)]:
        response = await client.patch(
            f"/api/categories/{target}/", json={"parent_id": parent}, headers=staff
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["type"] == "cycle"
    tree = (await client.get("/api/categories/tree/")).json()
    assert tree[0]["id"] == a.id
    assert tree[0]["children"][0]["children"][0]["id"] == c.id


async def test_delete_only_empty_categories(
    client: httpx.AsyncClient, staff: dict[str, str], make_category: Any, make_product: Any
) -> None:
    parent = await make_category("Parent")
    child = await make_category("Child", parent_id=parent.id)
    await make_product("Thing", category_id=child.id)

    assert (await client.delete(f"/api/categories/{parent.id}/", headers=staff)).status_code == 409
    has_products = await client.delete(f"/api/categories/{child.id}/", headers=staff)
    assert has_products.status_code == 409
    assert "products" in has_products.json()["detail"]

    empty = await make_category("Empty")
    assert (await client.delete(f"/api/categories/{empty.id}/", headers=staff)).status_code == 204
    assert (await client.get(f"/api/categories/{empty.id}/")).status_code == 404
    assert (await client.delete(f"/api/categories/{empty.id}/", headers=staff)).status_code == 404
