/*
 * The "Details" card of a push's page: what was sent to whom, when (at once, at
 * a time, or at a time on each user's clock), and the delivery options, all as
 * the request gave them (GET /v1/push/{id}).
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getUser, type Push, type PushTarget } from './api';
import { ago, dateTime, plural } from './format';

const NAMES_SHOWN = 8;

/** The usernames of the first few ids of a users target; ids stay where a lookup fails. */
function useTargetNames(to: PushTarget): Map<number, string> {
  const ids = 'users' in to ? to.users.slice(0, NAMES_SHOWN).filter((u): u is number => typeof u === 'number') : [];
  const key = ids.join(',');
  const [names, setNames] = useState(new Map<number, string>());
  useEffect(() => {
    let alive = true;
    void Promise.allSettled(ids.map((id) => getUser(id))).then((all) => {
      const found = new Map<number, string>();
      for (const r of all) if (r.status === 'fulfilled') found.set(r.value.id, r.value.username);
      if (alive) setNames(found);
    });
    return () => {
      alive = false;
    };
  }, [key]);
  return names;
}

function describeTarget(to: PushTarget, names: Map<number, string>): string {
  if ('users' in to) {
    const shown = to.users.slice(0, NAMES_SHOWN).map((u) => (typeof u === 'number' ? (names.get(u) ?? `#${u}`) : u));
    return `${plural(to.users.length, 'user')}: ${shown.join(', ')}${to.users.length > NAMES_SHOWN ? ', …' : ''}`;
  }
  if ('topic' in to) return `topic “${to.topic}”`;
  if ('tags' in to) return `tags ${Object.entries(to.tags).map(([k, v]) => `${k}=${v}`).join(', ')}`;
  if ('all' in to) return 'every user';
  return `conversation ${to.conv} (a chat message from user ${to.from})`;
}

/** When it goes (or went) out: "Dec 24, 2026, 09:00 AM · in 3 h", or on each user's clock, or at once. */
export function scheduleText(p: Push, now = Date.now()): string {
  if (p.send_at !== undefined) return `${dateTime(p.send_at)} · ${ago(p.send_at, now)}`;
  // A wall-clock time without a zone: read in the browser's zone, it formats back to the same clock.
  if (p.send_at_local !== undefined) return `${dateTime(new Date(p.send_at_local).getTime())}, each user's local time`;
  return 'At once';
}

function Row(props: { label: string; children: ComponentChildren; testid?: string; class?: string }) {
  return (
    <>
      <dt>{props.label}</dt>
      <dd class={props.class} data-testid={props.testid}>
        {props.children}
      </dd>
    </>
  );
}

export function PushFacts(props: { push: Push }) {
  const p = props.push;
  const n = p.notification;
  const names = useTargetNames(p.to);
  return (
    <dl class="kv">
      <Row label="To" testid="push-to">
        {describeTarget(p.to, names)}
      </Row>
      <Row label="Schedule" testid="push-schedule">
        {scheduleText(p)}
      </Row>
      {n.body ? (
        <Row label="Body" class="pre">
          {n.body}
        </Row>
      ) : null}
      {n.category ? (
        <Row label="Category">
          <span class="tag mono">{n.category}</span>
        </Row>
      ) : null}
      {n.url ? (
        <Row label="Link" class="break">
          {n.url}
        </Row>
      ) : null}
      {n.image ? (
        <Row label="Image" class="break">
          {n.image}
        </Row>
      ) : null}
      <Row label="Priority">{p.priority}</Row>
      {p.collapse_key !== undefined ? (
        <Row label="Collapse key" testid="push-collapse-key">
          <span class="tag mono">{p.collapse_key}</span>
        </Row>
      ) : null}
      <Row label="Expires">{dateTime(p.expires_at)}</Row>
      {n.data ? (
        <Row label="Data">
          <code class="mono break">{JSON.stringify(n.data)}</code>
        </Row>
      ) : null}
    </dl>
  );
}
