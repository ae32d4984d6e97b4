/*
 * A tiny observable list for app-wide state (toasts and the like) without a
 * state library: push/remove notify subscribers; use() re-renders a component.
 */
import { useEffect, useState } from 'preact/hooks';

export function signalList<T>() {
  let items: T[] = [];
  const subs = new Set<(items: T[]) => void>();
  const emit = () => subs.forEach((fn) => fn(items));
  return {
    get: () => items,
    push(item: T) {
      items = [...items, item];
      emit();
    },
    remove(match: (item: T) => boolean) {
      items = items.filter((x) => !match(x));
      emit();
    },
    use(): T[] {
      const [value, set] = useState(items);
      useEffect(() => {
        subs.add(set);
        return () => void subs.delete(set);
      }, []);
      return value;
    },
  };
}
