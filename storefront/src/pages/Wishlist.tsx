/** Wishlists: the items of each, move to cart, remove. */

import { useState } from "react";
import { Link } from "wouter";
import { api, must, mustOk } from "../api/client";
import { errorMessage } from "../lib/problem";
import { addToCart } from "../shop";
import { useLoad, useMe } from "../state";
import { Empty, ErrorNote, Loading, Notice, Page, Price } from "../ui";

export function WishlistPage() {
  const { me, ready } = useMe();
  const lists = useLoad(() => (me ? must(api.GET("/api/wishlists/", { params: { query: { limit: 20 } } })) : Promise.resolve(null)), [me?.id]);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const act = async (what: () => Promise<void>, done: string) => {
    setError(null);
    setMessage(null);
    try {
      await what();
      setMessage(done);
      lists.reload();
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  if (!ready) return <Loading />;
  if (!me) return <Page title="Wishlist"><p><Link href="/login">Log in</Link> to keep a wishlist.</p></Page>;
  return (
    <Page title="Wishlist">
      {lists.loading && <Loading />}
      <ErrorNote message={lists.error ?? error} />
      {message && <Notice>{message}</Notice>}
      {lists.data && lists.data.results.every((l) => l.items.length === 0) && (
        <Empty>
          Nothing saved yet. <Link href="/products">Browse the catalog</Link>.
        </Empty>
      )}
      {lists.data?.results.filter((l) => l.items.length > 0).map((list) => (
        <section key={list.id} aria-label={list.name}>
          <h2>{list.name}</h2>
          <ul className="wish">
            {list.items.map((item) => (
              <li key={item.id}>
                <Link href={`/products/${item.product_id}`}>{item.name}</Link> · <Price value={item.price} />
                {!item.available && <span className="stock out"> unavailable</span>}
                <button type="button" disabled={!item.available} onClick={() => void act(() => addToCart(item.product_id, 1), `${item.name} is in your cart.`)}>
                  Add to cart
                </button>
                <button
                  type="button"
                  className="secondary"
                  aria-label={`Remove ${item.name} from the wishlist`}
                  onClick={() => void act(() => mustOk(api.DELETE("/api/wishlist-items/{item_id}/", { params: { path: { item_id: item.id } } })), "Removed.")}
                >
                  Remove
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </Page>
  );
}
