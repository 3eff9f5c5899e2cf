/** Catalog: category tree, search, price and stock filters, ordering, cursor paging. */

import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useLocation, useSearch } from "wouter";
import { api, must, type CategoryNode, type Product } from "../api/client";
import { CursorPager } from "../lib/paging";
import { errorMessage } from "../lib/problem";
import { useLoad } from "../state";
import { Empty, ErrorNote, Loading, Page, ProductCard } from "../ui";

const ORDERINGS = [
  ["", "Relevance / newest"],
  ["price", "Price: low to high"],
  ["-price", "Price: high to low"],
  ["name", "Name A–Z"],
  ["-created_at", "Newest first"],
] as const;
type Ordering = "price" | "-price" | "created_at" | "-created_at" | "name" | "-name";
const PAGE_SIZE = 12;

function CategoryTree({ nodes, selected, href }: {
  nodes: CategoryNode[];
  selected: number | null;
  href: (id: number | null) => string;
}) {
  return (
    <ul className="tree">
      {nodes.map((node) => (
        <li key={node.id}>
          <Link href={href(node.id)} aria-current={selected === node.id ? "page" : undefined}>
            {node.name}
          </Link>
          {node.children.length > 0 && <CategoryTree nodes={node.children} selected={selected} href={href} />}
        </li>
      ))}
    </ul>
  );
}

export function Catalog() {
  const search = useSearch();
  const [, navigate] = useLocation();
  const params = useMemo(() => new URLSearchParams(search), [search]);
  const category = params.get("category") ? Number(params.get("category")) : null;
  const q = params.get("search") ?? "";
  const min = params.get("min_price") ?? "";
  const max = params.get("max_price") ?? "";
  const inStock = params.get("in_stock") === "true";
  const ordering = (params.get("ordering") ?? "") as Ordering | "";

  const tree = useLoad(() => must(api.GET("/api/categories/tree/")), []);
  const [items, setItems] = useState<Product[] | null>(null);
  const [pager, setPager] = useState<CursorPager<Product> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const withParam = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    const text = next.toString();
    return `/products${text ? `?${text}` : ""}`;
  };

  useEffect(() => {
    const p = new CursorPager<Product>((cursor) =>
      must(
        api.GET("/api/products/", {
          params: {
            query: {
              limit: PAGE_SIZE,
              cursor: cursor ?? undefined,
              category: category ?? undefined,
              search: q || undefined,
              min_price: min || undefined,
              max_price: max || undefined,
              in_stock: inStock || undefined,
              ordering: ordering || undefined,
            },
          },
        }),
      ),
    );
    setPager(p);
    setItems(null);
    setError(null);
    let live = true;
    p.load().then(
      (loaded) => live && setItems(loaded),
      (e: unknown) => live && setError(errorMessage(e)),
    );
    return () => {
      live = false;
    };
  }, [category, q, min, max, inStock, ordering]);

  const more = async () => {
    if (!pager) return;
    setBusy(true);
    try {
      setItems(await pager.load());
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    navigate(
      withParam({
        search: String(form.get("search") ?? "").trim() || null,
        min_price: String(form.get("min_price") ?? "") || null,
        max_price: String(form.get("max_price") ?? "") || null,
        in_stock: form.get("in_stock") ? "true" : null,
        ordering: String(form.get("ordering") ?? "") || null,
      }),
    );
  };

  return (
    <Page title="Catalog">
      <div className="catalog">
        <aside aria-label="Categories">
          <h2>Categories</h2>
          <Link href={withParam({ category: null })} aria-current={category === null ? "page" : undefined}>
            All products
          </Link>
          {tree.loading && <Loading />}
          <ErrorNote message={tree.error} />
          {tree.data && <CategoryTree nodes={tree.data} selected={category} href={(id) => withParam({ category: id ? String(id) : null })} />}
        </aside>
        <div>
          <form className="filters" role="search" onSubmit={submit} key={search}>
            <label>
              Search
              <input name="search" type="search" defaultValue={q} maxLength={200} />
            </label>
            <label>
              Min price
              <input name="min_price" type="number" min="0" step="0.01" defaultValue={min} inputMode="decimal" />
            </label>
            <label>
              Max price
              <input name="max_price" type="number" min="0" step="0.01" defaultValue={max} inputMode="decimal" />
            </label>
            <label className="check">
              <input name="in_stock" type="checkbox" defaultChecked={inStock} /> In stock only
            </label>
            <label>
              Order by
              <select name="ordering" defaultValue={ordering}>
                {ORDERINGS.map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit">Apply</button>
          </form>
          <ErrorNote message={error} />
          {items === null && !error && <Loading label="Loading products…" />}
          {items && items.length === 0 && <Empty>No products match these filters.</Empty>}
          {items && items.length > 0 && (
            <ul className="grid" aria-label="Products">
              {items.map((p) => (
                <ProductCard key={p.id} product={p} />
              ))}
            </ul>
          )}
          {items && pager?.hasMore && (
            <button type="button" onClick={() => void more()} disabled={busy}>
              {busy ? "Loading…" : "More products"}
            </button>
          )}
        </div>
      </div>
    </Page>
  );
}
