/** Staff pages: products, categories, orders, reports, users. Shown only to staff; the
 * API stays the authority (a customer who types the URL gets this page's refusal and
 * the API would answer 403 anyway). */

import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, Route, Switch } from "wouter";
import { api, must, mustOk, type CategoryNode, type OrderStatus, type Product, type User } from "../api/client";
import { errorMessage } from "../lib/problem";
import { useLoad, useMe } from "../state";
import { statusLabel } from "../pages/Orders";
import { formatMoney } from "../lib/money";
import { Empty, ErrorNote, Loading, Notice, Page, Price } from "../ui";

export function StaffRoutes() {
  const { me, ready } = useMe();
  if (!ready) return <Loading />;
  if (!me?.is_staff)
    return (
      <Page title="Staff only">
        <p role="alert">This page is for shop staff. {!me && <Link href="/login">Log in</Link>}</p>
      </Page>
    );
  return (
    <div className="admin">
      <nav aria-label="Staff">
        <Link href="/admin/products">Products</Link>
        <Link href="/admin/categories">Categories</Link>
        <Link href="/admin/orders">Orders</Link>
        <Link href="/admin/reports">Reports</Link>
        <Link href="/admin/users">Users</Link>
      </nav>
      <Switch>
        <Route path="/admin/categories" component={Categories} />
        <Route path="/admin/orders" component={Orders} />
        <Route path="/admin/reports" component={Reports} />
        <Route path="/admin/users" component={Users} />
        <Route component={Products} />
      </Switch>
    </div>
  );
}

function flatten(nodes: CategoryNode[], depth = 0): { id: number; label: string }[] {
  return nodes.flatMap((n) => [{ id: n.id, label: `${"— ".repeat(depth)}${n.name}` }, ...flatten(n.children, depth + 1)]);
}

function useAction(after: () => void) {
  const [error, setError] = useState<string | null>(null);
  const run = async (what: () => Promise<unknown>) => {
    setError(null);
    try {
      await what();
      after();
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  return { error, run: (what: () => Promise<unknown>) => void run(what) };
}

function Products() {
  const [search, setSearch] = useState("");
  const products = useLoad(() => must(api.GET("/api/products/", { params: { query: { limit: 50, search: search || undefined } } })), [search]);
  const tree = useLoad(() => must(api.GET("/api/categories/tree/")), []);
  const action = useAction(products.reload);
  // List pages are cached for a few seconds: show what each save answered, not a re-read.
  const [edited, setEdited] = useState<Record<number, Product>>({});
  const [saved, setSaved] = useState<string | null>(null);
  const create = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = new FormData(event.currentTarget);
    const target = event.currentTarget;
    action.run(async () => {
      await must(
        api.POST("/api/products/", {
          body: {
            name: String(f.get("name")),
            description: String(f.get("description") ?? ""),
            price: String(f.get("price")),
            stock_quantity: Number(f.get("stock_quantity")),
            category_id: Number(f.get("category_id")),
          },
        }),
      );
      target.reset();
    });
  };
  const save = (id: number, event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = new FormData(event.currentTarget);
    setSaved(null);
    action.run(async () => {
      const product = await must(
        api.PATCH("/api/products/{product_id}/", { params: { path: { product_id: id } }, body: { price: String(f.get("price")), stock_quantity: Number(f.get("stock_quantity")) } }),
      );
      setEdited((all) => ({ ...all, [id]: product }));
      setSaved(`${product.name} now costs ${product.price ? formatMoney(product.price) : "—"}.`);
    });
  };
  return (
    <Page title="Products">
      <form className="row" role="search" onSubmit={(e) => { e.preventDefault(); setSearch(String(new FormData(e.currentTarget).get("q") ?? "")); }}>
        <label>
          Find
          <input name="q" type="search" />
        </label>
        <button type="submit">Search</button>
      </form>
      <ErrorNote message={action.error ?? products.error} />
      {saved && <Notice>{saved}</Notice>}
      {products.loading && <Loading />}
      <table className="lines admin-table">
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col">Price and stock</th>
            <th scope="col">
              <span className="sr-only">Delete</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {products.data?.results.map((listed) => edited[listed.id] ?? listed).map((p) => (
            <tr key={`${p.id}-${p.updated_at}`} data-testid="admin-product">
              <td>
                <Link href={`/products/${p.id}`}>{p.name}</Link>
              </td>
              <td>
                <form className="row" onSubmit={(e) => save(p.id, e)}>
                  <label>
                    Price
                    <input name="price" defaultValue={p.price ?? ""} inputMode="decimal" required size={8} />
                  </label>
                  <label>
                    Stock
                    <input name="stock_quantity" type="number" min={0} defaultValue={p.stock_quantity} required />
                  </label>
                  <button type="submit" aria-label={`Save ${p.name}`}>
                    Save
                  </button>
                </form>
              </td>
              <td>
                <button type="button" className="secondary" aria-label={`Delete ${p.name}`} onClick={() => action.run(() => mustOk(api.DELETE("/api/products/{product_id}/", { params: { path: { product_id: p.id } } })))}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>New product</h2>
      <form className="stack narrow" onSubmit={create}>
        <label>
          Name
          <input name="name" required maxLength={200} />
        </label>
        <label>
          Description
          <textarea name="description" rows={2} />
        </label>
        <label>
          Price
          <input name="price" required inputMode="decimal" pattern="\d+(\.\d{1,2})?" />
        </label>
        <label>
          Stock
          <input name="stock_quantity" type="number" min={0} required defaultValue={10} />
        </label>
        <label>
          Category
          <select name="category_id" required>
            {flatten(tree.data ?? []).map((c) => (
              <option key={c.id} value={c.id}>
                {c.label}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary">
          Create product
        </button>
      </form>
    </Page>
  );
}

function CategoryRows({ nodes, action }: { nodes: CategoryNode[]; action: ReturnType<typeof useAction> }) {
  return (
    <ul className="tree">
      {nodes.map((n) => (
        <li key={n.id}>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              const name = String(new FormData(e.currentTarget).get("name"));
              action.run(() => must(api.PATCH("/api/categories/{category_id}/", { params: { path: { category_id: n.id } }, body: { name } })));
            }}
          >
            <input name="name" defaultValue={n.name} aria-label={`Name of ${n.name}`} required />
            <button type="submit">Rename</button>
            <button type="button" className="secondary" onClick={() => action.run(() => mustOk(api.DELETE("/api/categories/{category_id}/", { params: { path: { category_id: n.id } } })))}>
              Delete
            </button>
          </form>
          {n.children.length > 0 && <CategoryRows nodes={n.children} action={action} />}
        </li>
      ))}
    </ul>
  );
}

function Categories() {
  const tree = useLoad(() => must(api.GET("/api/categories/tree/")), []);
  const action = useAction(tree.reload);
  const create = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = new FormData(event.currentTarget);
    const parent = String(f.get("parent_id") ?? "");
    action.run(() => must(api.POST("/api/categories/", { body: { name: String(f.get("name")), parent_id: parent ? Number(parent) : null } })));
  };
  return (
    <Page title="Categories">
      <ErrorNote message={action.error ?? tree.error} />
      {tree.loading && <Loading />}
      {tree.data && <CategoryRows nodes={tree.data} action={action} />}
      <h2>New category</h2>
      <form className="row" onSubmit={create}>
        <label>
          Name
          <input name="name" required />
        </label>
        <label>
          Parent
          <select name="parent_id">
            <option value="">(top level)</option>
            {flatten(tree.data ?? []).map((c) => (
              <option key={c.id} value={c.id}>
                {c.label}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Add</button>
      </form>
    </Page>
  );
}

const STATUSES: OrderStatus[] = ["pending", "awaiting_payment", "payment_failed", "paid", "shipped", "completed", "cancelled"];

function Orders() {
  const [status, setStatus] = useState<OrderStatus | "">("paid");
  const orders = useLoad(() => must(api.GET("/api/orders/", { params: { query: { limit: 50, status: status || undefined } } })), [status]);
  const action = useAction(orders.reload);
  return (
    <Page title="Orders">
      <label>
        Status
        <select value={status} onChange={(e) => setStatus(e.target.value as OrderStatus | "")}>
          <option value="">All</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {statusLabel(s)}
            </option>
          ))}
        </select>
      </label>
      <ErrorNote message={action.error ?? orders.error} />
      {orders.loading && <Loading />}
      {orders.data?.results.length === 0 && <Empty>No orders with this status.</Empty>}
      <table className="lines">
        <tbody>
          {orders.data?.results.map((o) => (
            <tr key={o.id}>
              <td>#{o.id}</td>
              <td>user {o.user_id}</td>
              <td>{statusLabel(o.status)}</td>
              <td>
                <Price value={o.total_amount} currency={o.currency} />
              </td>
              <td>
                {o.status === "paid" && (
                  <button type="button" onClick={() => action.run(() => must(api.POST("/api/orders/{order_id}/ship/", { params: { path: { order_id: o.id } } })))}>
                    Ship
                  </button>
                )}
                {o.status === "shipped" && (
                  <button type="button" onClick={() => action.run(() => must(api.POST("/api/orders/{order_id}/complete/", { params: { path: { order_id: o.id } } })))}>
                    Complete
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Page>
  );
}

function Reports() {
  const best = useLoad(() => must(api.GET("/api/reports/bestsellers/", { params: { query: { limit: 10 } } })), []);
  const low = useLoad(() => must(api.GET("/api/reports/low-stock/", { params: { query: { limit: 20 } } })), []);
  const cats = useLoad(() => must(api.GET("/api/reports/category-stats/", { params: { query: { limit: 50 } } })), []);
  const customers = useLoad(() => must(api.GET("/api/reports/customer-stats/", { params: { query: { limit: 20 } } })), []);
  return (
    <Page title="Reports">
      <h2>Bestsellers</h2>
      <ErrorNote message={best.error} />
      {best.data?.length === 0 && <Empty>No sales yet.</Empty>}
      <ol>
        {best.data?.map((b) => (
          <li key={b.product_id}>
            {b.name}: {b.units_sold} sold, <Price value={b.revenue} />
          </li>
        ))}
      </ol>
      <h2>Low stock</h2>
      <ErrorNote message={low.error} />
      <ul>
        {low.data?.results.map((p) => (
          <li key={p.id}>
            {p.name}: {p.stock_quantity} left
          </li>
        ))}
      </ul>
      <h2>Categories</h2>
      <ErrorNote message={cats.error} />
      <table className="lines">
        <thead>
          <tr>
            <th scope="col">Category</th>
            <th scope="col">Products</th>
            <th scope="col">Stock</th>
            <th scope="col">Average price</th>
          </tr>
        </thead>
        <tbody>
          {cats.data?.results.map((c) => (
            <tr key={c.category_id}>
              <td>{c.category_name}</td>
              <td>{c.product_count}</td>
              <td>{c.total_stock}</td>
              <td>
                <Price value={c.average_price} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Customers</h2>
      <ErrorNote message={customers.error} />
      <ul>
        {customers.data?.results.map((c) => (
          <li key={c.user_id}>
            user {c.user_id}: {c.orders_count} orders, <Price value={c.total_spent} />
          </li>
        ))}
      </ul>
    </Page>
  );
}

type UserChange = { is_active?: boolean; is_staff?: boolean };

function Users() {
  const { me } = useMe();
  const users = useLoad(() => must(api.GET("/api/users/", { params: { query: { limit: 100 } } })), []);
  const action = useAction(users.reload);
  const [busy, setBusy] = useState<number | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<User | null>(null);
  const change = (user: User, body: UserChange) => {
    setDone(null);
    setBusy(user.id);
    action.run(async () => {
      try {
        const changed = await must(api.PATCH("/api/users/{user_id}/", { params: { path: { user_id: user.id } }, body }));
        setDone(`${changed.email} is now ${changed.is_active ? "active" : "deactivated"}, ${changed.is_staff ? "staff" : "a customer"}.`);
      } finally {
        setBusy(null);
      }
    });
  };
  return (
    <Page title="Users">
      <ErrorNote message={action.error ?? users.error} />
      {done && <Notice>{done}</Notice>}
      {users.loading && <Loading />}
      <table className="lines admin-table">
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Username</th>
            <th scope="col">Role</th>
            <th scope="col">Active</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {users.data?.results.map((u) => (
            <tr key={u.id} data-testid="admin-user">
              <td>{u.email}</td>
              <td>{u.username}</td>
              <td>{u.is_staff ? "staff" : "customer"}</td>
              <td>{u.is_active ? "yes" : "no"}</td>
              <td>
                {u.id === me?.id ? (
                  <span className="hint">Your own account</span>
                ) : (
                  <div className="row">
                    <button
                      type="button"
                      className="secondary"
                      aria-label={`${u.is_active ? "Deactivate" : "Reactivate"} ${u.email}`}
                      disabled={busy === u.id}
                      onClick={() => (u.is_active ? setConfirming(u) : change(u, { is_active: true }))}
                    >
                      {u.is_active ? "Deactivate" : "Reactivate"}
                    </button>
                    <button
                      type="button"
                      className="secondary"
                      aria-label={`${u.is_staff ? "Demote" : "Promote"} ${u.email}`}
                      disabled={busy === u.id}
                      onClick={() => change(u, { is_staff: !u.is_staff })}
                    >
                      {u.is_staff ? "Demote" : "Promote"}
                    </button>
                  </div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="hint">Promote makes a customer staff, demote the reverse. Both, and deactivation, end the user&apos;s current access tokens within seconds.</p>
      {confirming && (
        <ConfirmDeactivation
          user={confirming}
          onCancel={() => setConfirming(null)}
          onConfirm={() => {
            setConfirming(null);
            change(confirming, { is_active: false });
          }}
        />
      )}
    </Page>
  );
}

/** A modal dialog (the rest of the page is inert while it is open; Escape cancels). */
function ConfirmDeactivation({ user, onCancel, onConfirm }: { user: User; onCancel: () => void; onConfirm: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog.current?.showModal();
    // The safe choice has the focus; the confirmation is one Tab away.
    cancel.current?.focus();
    return () => opener?.focus();
  }, []);
  return (
    <dialog
      ref={dialog}
      className="confirm"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-text"
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
    >
      <h2 id="confirm-title">Deactivate {user.email}?</h2>
      <p id="confirm-text">They are signed out everywhere within seconds and cannot log in until staff reactivate the account.</p>
      <div className="row">
        <button type="button" className="secondary" ref={cancel} onClick={onCancel}>
          Cancel
        </button>
        <button type="button" onClick={onConfirm}>
          Yes, deactivate
        </button>
      </div>
    </dialog>
  );
}
