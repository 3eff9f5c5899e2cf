/** Small shared pieces: prices, loading / empty / error states, product cards. */

import type { ReactNode } from "react";
import { Link } from "wouter";
import type { Product } from "./api/client";
import { formatMoney } from "./lib/money";

export function Price({ value, currency }: { value: string | null | undefined; currency?: string | null }) {
  return <span className="price">{value == null ? "—" : formatMoney(value, currency ?? undefined)}</span>;
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      {label}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function ErrorNote({ message }: { message: string | null | undefined }) {
  if (!message) return null;
  return (
    <p className="error" role="alert">
      {message}
    </p>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <p className="notice" role="status">
      {children}
    </p>
  );
}

/** No product images in the API: a fixed-size placeholder keeps the layout from jumping. */
export function ProductImage({ name, large = false }: { name: string; large?: boolean }) {
  const hue = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
  const initials = name
    .split(/\s+/)
    .slice(0, 2)
    .map((w) => w[0]?.toUpperCase() ?? "")
    .join("");
  return (
    <div className={`placeholder ${large ? "large" : ""} hue-${hue % 12}`} aria-hidden="true">
      {initials}
    </div>
  );
}

export function ProductCard({ product }: { product: Product }) {
  return (
    <li className="card">
      <Link href={`/products/${product.id}`} className="card-link">
        <ProductImage name={product.name} />
        <span className="card-name">{product.name}</span>
      </Link>
      <span className="card-meta">
        <Price value={product.price} />
        {product.in_stock ? (
          <span className="stock in">In stock</span>
        ) : (
          <span className="stock out">Out of stock</span>
        )}
      </span>
    </li>
  );
}

export function Page({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">{title}</h1>
      {children}
    </section>
  );
}
