/** Log in, register, and the profile (username and names). */

import { useState, type FormEvent } from "react";
import { Link, useLocation } from "wouter";
import { api, must, session } from "../api/client";
import { errorMessage } from "../lib/problem";
import { refreshMe, useMe } from "../state";
import { ErrorNote, Loading, Notice, Page } from "../ui";

function useForm(run: (form: FormData) => Promise<void>) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await run(new FormData(event.currentTarget));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, onSubmit: (e: FormEvent<HTMLFormElement>) => void onSubmit(e) };
}

const text = (form: FormData, name: string) => String(form.get(name) ?? "");

export function LoginPage() {
  const [, navigate] = useLocation();
  const form = useForm(async (data) => {
    await session.login(text(data, "email"), text(data, "password"));
    navigate("/");
  });
  // Set by the redirect that follows a login the server ended.
  const ended = (window.history.state as { ended?: boolean } | null)?.ended === true;
  return (
    <Page title="Log in">
      {ended && <Notice>Your session has ended. Please log in again.</Notice>}
      <form className="stack narrow" onSubmit={form.onSubmit}>
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        <ErrorNote message={form.error} />
        <button type="submit" className="primary" disabled={form.busy}>
          Log in
        </button>
        <p>
          New here? <Link href="/register">Create an account</Link>.
        </p>
      </form>
    </Page>
  );
}

export function RegisterPage() {
  const [, navigate] = useLocation();
  const form = useForm(async (data) => {
    const email = text(data, "email");
    const password = text(data, "password");
    await must(
      api.POST("/api/auth/register/", {
        body: { email, password, username: text(data, "username"), first_name: text(data, "first_name"), last_name: text(data, "last_name") },
      }),
    );
    await session.login(email, password);
    navigate("/");
  });
  return (
    <Page title="Create an account">
      <form className="stack narrow" onSubmit={form.onSubmit}>
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required />
        </label>
        <label>
          Username
          <input name="username" autoComplete="username" required minLength={3} maxLength={150} />
        </label>
        <label>
          First name
          <input name="first_name" autoComplete="given-name" maxLength={150} />
        </label>
        <label>
          Last name
          <input name="last_name" autoComplete="family-name" maxLength={150} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="new-password" required />
        </label>
        <ErrorNote message={form.error} />
        <button type="submit" className="primary" disabled={form.busy}>
          Register
        </button>
      </form>
    </Page>
  );
}

export function AccountPage() {
  const { me, ready } = useMe();
  const [saved, setSaved] = useState(false);
  const form = useForm(async (data) => {
    setSaved(false);
    await must(
      api.PATCH("/api/users/me/", {
        body: { username: text(data, "username"), first_name: text(data, "first_name"), last_name: text(data, "last_name") },
      }),
    );
    await refreshMe();
    setSaved(true);
  });
  if (!ready) return <Loading />;
  if (!me) return <Page title="Your account"><p><Link href="/login">Log in</Link> first.</p></Page>;
  return (
    <Page title="Your account">
      <p>Signed in as {me.email}.</p>
      <form className="stack narrow" onSubmit={form.onSubmit} key={me.updated_at}>
        <label>
          Username
          <input name="username" defaultValue={me.username} required minLength={3} maxLength={150} />
        </label>
        <label>
          First name
          <input name="first_name" defaultValue={me.first_name} maxLength={150} />
        </label>
        <label>
          Last name
          <input name="last_name" defaultValue={me.last_name} maxLength={150} />
        </label>
        <ErrorNote message={form.error} />
        {saved && <Notice>Your profile is saved.</Notice>}
        <button type="submit" className="primary" disabled={form.busy}>
          Save
        </button>
      </form>
    </Page>
  );
}
