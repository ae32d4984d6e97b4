/*
 * The dashboard: live numbers polled from /v1/admin/stats every 2 s (or read from
 * /metrics on a server without that route), with rates derived from counter
 * deltas and a sparkline of the last 2 minutes per card. Polling pauses while
 * the tab is hidden and stops after an hour, so a forgotten tab costs nothing.
 */
import { PipitError } from '@pipit/sdk';
import { useEffect, useRef, useState } from 'preact/hooks';
import { bytes } from '../shared/ui';
import { errorText, getStats, listPushes, statsFromMetrics, type PushSummary, type Stats } from './api';
import { ago, count, duration, rate } from './format';
import { useAsync } from './hooks';
import { Icon } from './icons';
import { ListState, asList } from './lists';
import { Sparkline } from './sparkline';
import { ErrorBox, Loading, PageHeader, Status } from './widgets';

const INTERVAL_MS = 2000;
const SLOTS = 60; // 2 minutes of samples
const MAX_POLLS = 1800; // an hour

interface Sample {
  ts: number;
  stats: Stats;
  /** False for the first sample: a rate needs two. */
  hasRate: boolean;
  messagesPerS: number;
  pushesPerS: number;
}

/** Per-second rate of a counter between two samples; a restart (counter went down) counts as 0. */
function perSecond(prev: Stats | undefined, cur: Stats, pick: (s: Stats) => number | undefined): number {
  if (!prev) return 0;
  const dt = (cur.ts - prev.ts) / 1000;
  const dv = (pick(cur) ?? 0) - (pick(prev) ?? 0);
  return dt > 0 && dv > 0 ? dv / dt : 0;
}

function useLiveStats() {
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [fromMetrics, setFromMetrics] = useState(false);
  const [stopped, setStopped] = useState(false);
  const [restart, setRestart] = useState(0);
  const fallback = useRef(false);

  useEffect(() => {
    let polls = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let alive = true;
    const fetchOnce = async (): Promise<Stats> => {
      if (fallback.current) return statsFromMetrics();
      try {
        return await getStats();
      } catch (err) {
        if (err instanceof PipitError && err.status === 404) {
          fallback.current = true;
          setFromMetrics(true);
          return statsFromMetrics();
        }
        throw err;
      }
    };
    const tick = async () => {
      if (!alive) return;
      if (polls++ >= MAX_POLLS) {
        setStopped(true);
        return;
      }
      if (!document.hidden) {
        try {
          const stats = await fetchOnce();
          if (!alive) return;
          setError(null);
          setSamples((list) => {
            const prev = list[list.length - 1]?.stats;
            const sample: Sample = {
              ts: stats.ts,
              stats,
              hasRate: prev !== undefined,
              messagesPerS: perSecond(prev, stats, (s) => s.messages_total),
              pushesPerS: perSecond(prev, stats, (s) => s.pushes_total),
            };
            return [...list, sample].slice(-SLOTS);
          });
        } catch (err) {
          if (alive) setError(errorText(err));
        }
      }
      if (alive) timer = setTimeout(tick, INTERVAL_MS);
    };
    setStopped(false);
    void tick();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [restart]);

  return { samples, error, fromMetrics, stopped, resume: () => setRestart((n) => n + 1) };
}

function StatCard(props: {
  label: string;
  value: string;
  unit?: string;
  sub: string;
  series: number[];
  tone: string;
  zeroBased?: boolean;
  testid: string;
}) {
  return (
    <section class={`card stat tone-${props.tone}`} aria-label={props.label} data-testid={props.testid}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">
        {props.value}
        {props.unit ? <span class="stat-unit">{props.unit}</span> : null}
      </div>
      <div class="faint stat-sub">{props.sub}</div>
      <Sparkline values={props.series} slots={SLOTS} label={`${props.label}, last 2 minutes`} zeroBased={props.zeroBased ?? true} />
    </section>
  );
}

function RecentPushes() {
  const pushes = useAsync(async () => (await listPushes(null, 5)).items, []);
  return (
    <section class="card panel">
      <header class="panel-head">
        <h2>Recent pushes</h2>
        <a href="#/push" class="btn btn-ghost btn-sm">
          All pushes <Icon name="chevron" size={14} />
        </a>
      </header>
      <ListState
        list={asList(pushes)}
        empty={
          <div class="panel-empty muted">
            No pushes yet. <a href="#/push/new">Compose the first one</a>
          </div>
        }
      >
        {(items) => (
          <ul class="mini-list">
            {items.map((p) => (
              <RecentPush key={p.id} push={p} />
            ))}
          </ul>
        )}
      </ListState>
    </section>
  );
}

function RecentPush(props: { push: PushSummary }) {
  const c = props.push.counts;
  return (
    <li>
      <a href={`#/push/${props.push.id}`} class="mini-row">
        <span class="mini-main">
          <strong class="ellipsis">{props.push.notification.title}</strong>
          <span class="faint">
            #{props.push.id} · {ago(props.push.created_at)}
          </span>
        </span>
        <span class="mini-nums faint">
          {count(c.targeted)} targeted · {count(c.opened)} opened
        </span>
      </a>
    </li>
  );
}

export function Dashboard() {
  const live = useLiveStats();
  const last = live.samples[live.samples.length - 1];
  const s = last?.stats;
  const series = (pick: (x: Sample) => number) => live.samples.map(pick);
  const rates = (pick: (x: Sample) => number) => live.samples.filter((x) => x.hasRate).map(pick);
  return (
    <div class="page">
      <PageHeader title="Dashboard" sub="Live, updated every 2 seconds.">
        {live.stopped ? (
          <button type="button" class="btn" onClick={live.resume}>
            <Icon name="refresh" size={16} /> Resume live updates
          </button>
        ) : (
          <Status tone={live.error ? 'danger' : 'ok'}>{live.error ? 'Offline' : 'Live'}</Status>
        )}
      </PageHeader>
      {live.error ? <ErrorBox message={`Could not refresh the numbers: ${live.error}`} /> : null}
      {!s ? (
        live.error ? null : <Loading label="Reading the server's numbers…" />
      ) : (
        <>
          <div class="stats">
            <StatCard
              testid="stat-online"
              label="Online connections"
              value={count(s.sessions)}
              sub={`${count(s.connections)} open connections in all`}
              series={series((x) => x.stats.sessions)}
              tone="blue"
            />
            <StatCard
              testid="stat-messages"
              label="Messages"
              value={last!.hasRate ? rate(last!.messagesPerS) : '–'}
              unit="/s"
              sub={`${count(s.messages_total)} since start`}
              series={rates((x) => x.messagesPerS)}
              tone="violet"
            />
            <StatCard
              testid="stat-pushes"
              label="Pushes"
              value={last!.hasRate ? rate(last!.pushesPerS) : '–'}
              unit="/s"
              sub={`${count(s.pushes_total)} since start`}
              series={rates((x) => x.pushesPerS)}
              tone="orange"
            />
            <StatCard
              testid="stat-store"
              label="Store size"
              value={s.store_bytes !== undefined ? bytes(s.store_bytes) : '–'}
              sub={s.store_bytes !== undefined ? 'database and its write-ahead log' : 'needs /v1/admin/stats'}
              series={series((x) => x.stats.store_bytes ?? 0)}
              zeroBased={false}
              tone="green"
            />
          </div>
          <div class="dash-row">
            <section class="card panel facts">
              <header class="panel-head">
                <h2>Server</h2>
                {live.fromMetrics ? <span class="faint">from /metrics</span> : null}
              </header>
              <dl class="facts-list">
                <Fact label="Users" value={s.users !== undefined ? count(s.users) : '–'} href="#/users" />
                <Fact label="Conversations" value={s.conversations !== undefined ? count(s.conversations) : '–'} href="#/conversations" />
                <Fact label="Uptime" value={s.uptime_s !== undefined ? duration(s.uptime_s) : '–'} />
                <Fact label="Messages since start" value={count(s.messages_total)} />
                <Fact label="Pushes since start" value={count(s.pushes_total)} />
              </dl>
            </section>
            <RecentPushes />
          </div>
        </>
      )}
    </div>
  );
}

function Fact(props: { label: string; value: string; href?: string }) {
  return (
    <div class="fact">
      <dt class="muted">{props.label}</dt>
      <dd>{props.href ? <a href={props.href}>{props.value}</a> : props.value}</dd>
    </div>
  );
}
