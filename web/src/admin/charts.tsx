/*
 * The push charts, as inline SVG: the funnel (targeted → sent → delivered →
 * opened → clicked) as columns, the same per channel and per variant as groups
 * of bars, and deliveries by state as one stacked bar. Bars are sized in
 * percent, so they stretch with the card; numbers are HTML text next to them,
 * so they stay sharp and readable on a phone.
 */
import type { DeliveryCounts } from './api';
import { count, percent } from './format';

export interface Step {
  label: string;
  value: number;
}

/** Columns, one per step, scaled to the first; each shows its share of the first. */
export function FunnelColumns(props: { steps: Step[]; label: string }) {
  const base = Math.max(props.steps[0]?.value ?? 0, ...props.steps.map((s) => s.value), 1);
  const first = props.steps[0]?.value ?? 0;
  return (
    <div class="funnel" role="img" aria-label={`${props.label}: ${props.steps.map((s) => `${s.label} ${s.value}`).join(', ')}`}>
      {props.steps.map((s, i) => {
        const h = (s.value / base) * 100;
        return (
          <div class="funnel-col" key={s.label}>
            <div class="funnel-num">{count(s.value)}</div>
            <svg class="funnel-svg" width="100%" height="100%" preserveAspectRatio="none" aria-hidden="true">
              <rect class="bar-track" x="0" y="0" width="100%" height="100%" rx="6" />
              <rect class={`bar-fill step-${i}`} x="0" y={`${100 - h}%`} width="100%" height={`${h}%`} rx="6" />
            </svg>
            <div class="funnel-label">{s.label}</div>
            <div class="faint funnel-pct">{i === 0 ? (first > 0 ? '100%' : '–') : percent(s.value, first)}</div>
          </div>
        );
      })}
    </div>
  );
}

/** Deliveries in any state: what a group (a channel, a variant) was given. */
export function targeted(c: DeliveryCounts): number {
  return c.queued + c.sent + c.failed + c.expired + c.suppressed;
}

function groupSteps(c: DeliveryCounts): Step[] {
  return [
    { label: 'targeted', value: targeted(c) },
    { label: 'sent', value: c.sent },
    { label: 'delivered', value: c.delivered },
    { label: 'opened', value: c.opened },
    { label: 'clicked', value: c.clicked },
  ];
}

/** The largest number of any group, so that groups drawn side by side share one scale. */
export function sharedScale(groups: DeliveryCounts[]): number {
  return Math.max(1, ...groups.flatMap((c) => groupSteps(c).map((s) => s.value)));
}

/** "40% opened · 12% clicked", of what was sent. */
export function openRates(c: DeliveryCounts): string {
  return c.sent === 0 ? 'nothing sent' : `${percent(c.opened, c.sent)} opened · ${percent(c.clicked, c.sent)} clicked`;
}

/** One group's mini funnel as horizontal bars, scaled to `scale`. */
export function FunnelBars(props: { counts: DeliveryCounts; scale: number; label: string }) {
  const steps = groupSteps(props.counts);
  return (
    <div class="hbars" role="img" aria-label={`${props.label}: ${steps.map((s) => `${s.label} ${s.value}`).join(', ')}`}>
      {steps.map((s, i) => (
        <div class="hbar" key={s.label}>
          <span class="hbar-label faint">{s.label}</span>
          <svg class="hbar-svg" width="100%" height="12" aria-hidden="true">
            <rect class="bar-track" x="0" y="0" width="100%" height="12" rx="3" />
            {s.value > 0 ? (
              <rect class={`bar-fill step-${i}`} x="0" y="0" width={`${Math.max(0.8, (s.value / props.scale) * 100)}%`} height="12" rx="3" />
            ) : null}
          </svg>
          <span class="hbar-num">{count(s.value)}</span>
        </div>
      ))}
    </div>
  );
}

/** One mini funnel per group (a channel), sharing a scale. */
export function GroupBars(props: { groups: [string, DeliveryCounts][]; label: string; nameOf?: (g: string) => string }) {
  const scale = sharedScale(props.groups.map(([, c]) => c));
  return (
    <div class="groups" aria-label={props.label}>
      {props.groups.map(([name, c]) => (
        <div class="group" key={name} data-testid={`group-${name}`}>
          <div class="group-head">
            <strong>{props.nameOf ? props.nameOf(name) : name}</strong>
            <span class="faint">{openRates(c)}</span>
          </div>
          <FunnelBars counts={c} scale={scale} label={name} />
        </div>
      ))}
    </div>
  );
}

const STATES = ['queued', 'sent', 'failed', 'expired', 'suppressed'] as const;

/** Deliveries by state as one stacked bar, with a legend holding the numbers. */
export function StateBar(props: { counts: DeliveryCounts }) {
  const total = STATES.reduce((s, k) => s + props.counts[k], 0);
  let x = 0;
  return (
    <div class="statebar">
      <svg class="statebar-svg" width="100%" height="16" role="img" aria-label={STATES.map((k) => `${k} ${props.counts[k]}`).join(', ')}>
        <rect class="bar-track" x="0" y="0" width="100%" height="16" rx="8" />
        {total > 0
          ? STATES.map((k) => {
              const w = (props.counts[k] / total) * 100;
              const r = (
                <rect key={k} class={`state-${k}`} x={`${x}%`} y="0" width={`${w}%`} height="16">
                  <title>{`${k}: ${props.counts[k]}`}</title>
                </rect>
              );
              x += w;
              return r;
            })
          : null}
      </svg>
      <ul class="legend">
        {STATES.map((k) => (
          <li key={k} data-testid={`state-${k}`}>
            <span class={`swatch state-${k}`} aria-hidden="true" />
            <span class="muted">{k}</span>
            <strong>{count(props.counts[k])}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}
