/** Wishlists: create, rename and delete them; the items of each, move to cart, remove. */

import { useState, type FormEvent } from "react";
import { Link } from "wouter";
import { api, must, mustOk, type Wishlist } from "../api/client";
import { errorMessage } from "../lib/problem";
import { addToCart } from "../shop";
import { useLoad, useMe } from "../state";
import { Empty, ErrorNote, Loading, Notice, Page, Price } from "../ui";

/** The text of a form's one named field, trimmed. */
function fieldOf(event: FormEvent<HTMLFormElement>, name: string): string {
  return String(new FormData(event.currentTarget).get(name) ?? "").trim();
}

export function WishlistPage() {
  const { me, ready } = useMe();
  const lists = useLoad(() => (me ? must(api.GET("/api/wishlists/", { params: { query: { limit: 50 } } })) : Promise.resolve(null)), [me?.id]);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const act = async (what: () => Promise<unknown>, done: string): Promise<boolean> => {
    setError(null);
    setMessage(null);
    try {
      await what();
      setMessage(done);
      lists.reload();
      return true;
    } catch (e) {
      setError(errorMessage(e));
      return false;
    }
  };
  const create = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = fieldOf(event, "name");
    if (await act(() => must(api.POST("/api/wishlists/", { body: { name } })), `Wishlist “${name}” created.`)) form.reset();
  };
  const rename = (list: Wishlist) => async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const name = fieldOf(event, "name");
    await act(
      () => must(api.PATCH("/api/wishlists/{wishlist_id}/", { params: { path: { wishlist_id: list.id } }, body: { name } })),
      `“${list.name}” is now “${name}”.`,
    );
  };
  if (!ready) return <Loading />;
  if (!me) return <Page title="Wishlist"><p><Link href="/login">Log in</Link> to keep a wishlist.</p></Page>;
  return (
    <Page title="Wishlist">
      {lists.loading && <Loading />}
      <ErrorNote message={lists.error ?? error} />
      {message && <Notice>{message}</Notice>}
      <form className="row" onSubmit={(e) => void create(e)}>
        <label>
          New wishlist name
          <input name="name" required maxLength={100} />
        </label>
        <button type="submit">Create wishlist</button>
      </form>
      {lists.data && lists.data.results.every((l) => l.items.length === 0) && (
        <Empty>
          Nothing saved yet. <Link href="/products">Browse the catalog</Link>.
        </Empty>
      )}
      {lists.data?.results.map((list) => (
        <section key={list.id} aria-label={list.name} data-testid="wishlist">
          <h2>{list.name}</h2>
          <form className="row" onSubmit={(e) => void rename(list)(e)} key={list.name}>
            <label>
              Name
              <input name="name" required maxLength={100} defaultValue={list.name} aria-label={`New name for ${list.name}`} />
            </label>
            <button type="submit" aria-label={`Rename ${list.name}`}>
              Rename
            </button>
            <button
              type="button"
              className="secondary"
              aria-label={`Delete ${list.name}`}
              onClick={() =>
                void act(() => mustOk(api.DELETE("/api/wishlists/{wishlist_id}/", { params: { path: { wishlist_id: list.id } } })), `“${list.name}” is deleted.`)
              }
            >
              Delete
            </button>
          </form>
          {list.items.length === 0 && <p className="hint">Nothing in this list yet.</p>}
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
