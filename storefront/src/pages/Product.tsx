/** Product detail: price, stock, add to cart or wishlist, reviews (write, edit, delete own). */

import { useState, type FormEvent } from "react";
import { Link } from "wouter";
import { api, must, mustOk, publicApi, type Review } from "../api/client";
import { errorMessage } from "../lib/problem";
import { addToCart, addToWishlist } from "../shop";
import { useLoad, useMe } from "../state";
import { Empty, ErrorNote, Loading, Notice, Page, Price, ProductImage } from "../ui";

function Stars({ rating }: { rating: number }) {
  return <span aria-label={`${rating} out of 5 stars`}>{"★".repeat(rating) + "☆".repeat(5 - rating)}</span>;
}

function ReviewForm({ productId, existing, onDone }: {
  productId: number;
  existing: Review | null;
  onDone: () => void;
}) {
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const rating = Number(form.get("rating"));
    const comment = String(form.get("comment") ?? "");
    try {
      if (existing) {
        await must(api.PATCH("/api/reviews/{review_id}/", { params: { path: { review_id: existing.id } }, body: { rating, comment } }));
      } else {
        await must(api.POST("/api/reviews/", { body: { product_id: productId, rating, comment } }));
      }
      setError(null);
      onDone();
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  const remove = async () => {
    if (!existing) return;
    try {
      await mustOk(api.DELETE("/api/reviews/{review_id}/", { params: { path: { review_id: existing.id } } }));
      onDone();
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  return (
    <form className="stack" onSubmit={(e) => void submit(e)} key={existing?.updated_at ?? "new"}>
      <h3>{existing ? "Edit your review" : "Write a review"}</h3>
      <label>
        Rating
        <select name="rating" defaultValue={existing?.rating ?? 5}>
          {[5, 4, 3, 2, 1].map((n) => (
            <option key={n} value={n}>
              {n} star{n > 1 ? "s" : ""}
            </option>
          ))}
        </select>
      </label>
      <label>
        Comment
        <textarea name="comment" rows={3} maxLength={2000} defaultValue={existing?.comment ?? ""} />
      </label>
      <ErrorNote message={error} />
      <div className="row">
        <button type="submit">{existing ? "Save review" : "Post review"}</button>
        {existing && (
          <button type="button" className="secondary" onClick={() => void remove()}>
            Delete review
          </button>
        )}
      </div>
    </form>
  );
}

export function ProductPage({ id }: { id: number }) {
  const { me } = useMe();
  // Read without credentials so that the browser's cache revalidates it (ETag, 304).
  const product = useLoad(() => must(publicApi.GET("/api/products/{product_id}/", { params: { path: { product_id: id } } })), [id]);
  const reviews = useLoad(() => must(api.GET("/api/reviews/", { params: { query: { product: id, limit: 50 } } })), [id]);
  const wishlists = useLoad(
    () => (me ? must(api.GET("/api/wishlists/", { params: { query: { limit: 50 } } })).then((page) => page.results) : Promise.resolve([])),
    [me?.id],
  );
  const [wishlistId, setWishlistId] = useState<number | null>(null);
  const [quantity, setQuantity] = useState(1);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const act = async (what: () => Promise<unknown>, done: string | ((result: unknown) => string)) => {
    setError(null);
    setMessage(null);
    try {
      const result = await what();
      setMessage(typeof done === "string" ? done : done(result));
    } catch (e) {
      setError(errorMessage(e));
    }
  };

  if (product.loading && !product.data) return <Loading />;
  if (product.error || !product.data) return <ErrorNote message={product.error ?? "Not found."} />;
  const p = product.data;
  const mine = reviews.data?.results.find((r) => r.user_id === me?.id) ?? null;
  return (
    <Page title={p.name}>
      <div className="product">
        <ProductImage name={p.name} large />
        <div className="stack">
          <p className="big">
            <Price value={p.price} />
          </p>
          <p>{p.in_stock ? `In stock (${p.stock_quantity} left)` : "Out of stock"}</p>
          {p.category && (
            <p>
              Category: <Link href={`/products?category=${p.category.id}`}>{p.category.name}</Link>
            </p>
          )}
          <p>{p.description}</p>
          {me ? (
            <div className="row">
              <label>
                Quantity
                <input type="number" min={1} max={100} value={quantity} onChange={(e) => setQuantity(Math.max(1, Number(e.target.value) || 1))} />
              </label>
              <button type="button" disabled={!p.in_stock} onClick={() => void act(() => addToCart(p.id, quantity), `Added ${quantity} to your cart.`)}>
                Add to cart
              </button>
              {(wishlists.data?.length ?? 0) > 1 && (
                <label>
                  Save to wishlist
                  <select value={wishlistId ?? wishlists.data![0]!.id} onChange={(e) => setWishlistId(Number(e.target.value))}>
                    {wishlists.data!.map((l) => (
                      <option key={l.id} value={l.id}>
                        {l.name}
                      </option>
                    ))}
                  </select>
                </label>
              )}
              <button
                type="button"
                className="secondary"
                onClick={() =>
                  void act(
                    () => addToWishlist(p.id, wishlists.data?.find((l) => l.id === wishlistId) ?? wishlists.data?.[0]),
                    (name) => `Saved to your wishlist “${String(name)}”.`,
                  )
                }
              >
                Add to wishlist
              </button>
            </div>
          ) : (
            <p>
              <Link href="/login">Log in</Link> to buy this product.
            </p>
          )}
          {message && (
            <Notice>
              {message} <Link href="/cart">Go to cart</Link>
            </Notice>
          )}
          <ErrorNote message={error} />
        </div>
      </div>
      <h2>Reviews {p.rating_avg && <small>(average {p.rating_avg} of 5, {p.review_count} reviews)</small>}</h2>
      {reviews.loading && <Loading />}
      <ErrorNote message={reviews.error} />
      {reviews.data && reviews.data.results.length === 0 && <Empty>No reviews yet.</Empty>}
      <ul className="reviews">
        {reviews.data?.results.map((r) => (
          <li key={r.id}>
            <Stars rating={r.rating} /> {r.user_id === me?.id && <strong>(yours)</strong>}
            <p>{r.comment}</p>
          </li>
        ))}
      </ul>
      {me && <ReviewForm productId={p.id} existing={mine} onDone={() => { reviews.reload(); product.reload(); }} />}
    </Page>
  );
}
