/** The signed-in user (from /api/users/me/) and React hooks over the session. */

import { useEffect, useState, useSyncExternalStore, type DependencyList } from "react";
import { api, must, session, type User } from "./api/client";
import { errorMessage } from "./lib/problem";

let me: User | null = null;
let ready = false;
const listeners = new Set<() => void>();
const emit = () => listeners.forEach((l) => l());

async function loadMe(): Promise<void> {
  me = session.loggedIn ? await must(api.GET("/api/users/me/")).catch(() => null) : null;
  ready = true;
  emit();
}

session.subscribe(() => void loadMe());

/** On page load: a refresh cookie from an earlier visit logs the tab back in. */
export async function restoreSession(): Promise<void> {
  await session.refresh().catch(() => false);
  if (!session.loggedIn) {
    ready = true;
    emit();
  }
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useMe(): { me: User | null; ready: boolean } {
  const snapshot = useSyncExternalStore(subscribe, () => (ready ? me : undefined));
  return { me: snapshot ?? null, ready: snapshot !== undefined };
}

export async function refreshMe(): Promise<void> {
  await loadMe();
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change; the latest call wins. */
export function useLoad<T>(load: () => Promise<T>, deps: DependencyList): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: unknown) => live && setState({ data: null, error: errorMessage(error), loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}
