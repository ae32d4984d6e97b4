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

export function groupSteps(c: DeliveryCounts): Step[] {
  return [
    { label: 'targeted', value: c.queued + c.sent + c.failed + c.expired + c.suppressed },
    { label: 'sent', value: c.sent },
    { label: 'delivered', value: c.delivered },
    { label: 'opened', value: c.opened },
    { label: 'clicked', value: c.clicked },
  ];
}

/** One mini funnel per group (channel or variant), as horizontal bars sharing a scale. */
export function GroupBars(props: { groups: [string, DeliveryCounts][]; label: string; nameOf?: (g: string) => string }) {
  const all = props.groups.map(([name, c]) => [name, groupSteps(c)] as const);
  const base = Math.max(1, ...all.flatMap(([, steps]) => steps.map((s) => s.value)));
  return (
    <div class="groups" aria-label={props.label}>
      {all.map(([name, steps]) => (
        <div class="group" key={name} data-testid={`group-${name}`}>
          <div class="group-head">
            <strong>{props.nameOf ? props.nameOf(name) : name}</strong>
            <span class="faint">
              {steps[1]!.value === 0
                ? 'nothing sent'
                : `${percent(steps[3]!.value, steps[1]!.value)} opened · ${percent(steps[4]!.value, steps[1]!.value)} clicked`}
            </span>
          </div>
          <div class="hbars" role="img" aria-label={`${name}: ${steps.map((s) => `${s.label} ${s.value}`).join(', ')}`}>
            {steps.map((s, i) => (
              <div class="hbar" key={s.label}>
                <span class="hbar-label faint">{s.label}</span>
                <svg class="hbar-svg" width="100%" height="12" aria-hidden="true">
                  <rect class="bar-track" x="0" y="0" width="100%" height="12" rx="3" />
                  {s.value > 0 ? (
                    <rect class={`bar-fill step-${i}`} x="0" y="0" width={`${Math.max(0.8, (s.value / base) * 100)}%`} height="12" rx="3" />
                  ) : null}
                </svg>
                <span class="hbar-num">{count(s.value)}</span>
              </div>
            ))}
          </div>
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
