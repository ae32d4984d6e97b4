/*
 * The A/B test card of a push's page, one column per variant so they compare
 * at a glance: each as it was sent (its name, weight and share of users, what
 * it changes in the notification) with its own funnel once it has deliveries,
 * and the holdout with how many users it drew.
 * What was sent comes from the push's `variants` and `holdout`, so the card is
 * whole before the first delivery (a scheduled push); the counts come from
 * `counts.by_variant`, which only lists names that have deliveries.
 */
import { Fragment, type ComponentChildren } from 'preact';
import type { DeliveryCounts, Notification, Variant } from './api';
import { FunnelBars, openRates, sharedScale, targeted } from './charts';
import { percent, plural } from './format';

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

const FIELD_NAMES: Record<string, string> = { title: 'Title', body: 'Body', url: 'Link', image: 'Image', category: 'Category', data: 'Data' };

/** The card of a push sent with `variants`. */
export function AbTest(props: { variants: Variant[]; holdout: number; counts: Record<string, DeliveryCounts> }) {
  return (
    <section class="card panel" data-testid="ab-test">
      <header class="panel-head">
        <h2>A/B test</h2>
        <span class="faint">
          {plural(props.variants.length, 'variant')}
          {props.holdout > 0 ? ' and a holdout' : ''}, each user drawn by weight
        </span>
      </header>
      <Variants {...props} />
    </section>
  );
}

function Variants(props: { variants: Variant[]; holdout: number; counts: Record<string, DeliveryCounts> }) {
  const total = props.variants.reduce((s, v) => s + v.weight, 0) + props.holdout;
  const scale = sharedScale(props.variants.flatMap((v) => props.counts[v.name] ?? []));
  const held = props.counts.holdout;
  return (
    <ul class="ab-list">
      {props.variants.map((v, i) => {
        const c = props.counts[v.name];
        return (
          <Column key={v.name} id={v.name} badge={String.fromCharCode(65 + i)} name={v.name} weight={v.weight} total={total} result={c ? capitalized(openRates(c)) : 'No deliveries yet'}>
            <Overrides n={v.notification} />
            {c ? <FunnelBars counts={c} scale={scale} label={`Variant ${v.name}`} /> : null}
          </Column>
        );
      })}
      {props.holdout > 0 ? (
        <Column id="holdout" badge="–" muted name="Holdout" weight={props.holdout} total={total} result={held ? `${plural(targeted(held), 'user')} held out` : 'No one drawn yet'}>
          <p class="faint ab-note">Gets nothing: the baseline the variants are compared with.</p>
        </Column>
      ) : null}
    </ul>
  );
}

/** One variant (or the holdout): name and share on top, its result at the bottom, level across columns. */
function Column(props: {
  id: string;
  badge: string;
  muted?: boolean;
  name: string;
  weight: number;
  total: number;
  result: string;
  children: ComponentChildren;
}) {
  return (
    <li class="ab-item" data-testid={`variant-${props.id}`}>
      <div class="ab-head">
        <span class={`variant-badge${props.muted ? ' badge-muted' : ''}`} aria-hidden="true">
          {props.badge}
        </span>
        <div class="ab-name">
          <strong class="ellipsis">{props.name}</strong>
          <span class="faint">
            weight {props.weight} · {percent(props.weight, props.total)} of users
          </span>
        </div>
      </div>
      {props.children}
      <p class="ab-result">{props.result}</p>
    </li>
  );
}

/** What a variant puts in place of the push's own notification fields. */
function Overrides(props: { n: Partial<Notification> }) {
  const fields = Object.entries(props.n);
  if (fields.length === 0) return <p class="faint ab-note">Same notification as the push.</p>;
  return (
    <dl class="kv ab-over">
      {fields.map(([k, v]) => (
        <Fragment key={k}>
          <dt>{FIELD_NAMES[k] ?? k}</dt>
          <dd class={typeof v === 'string' ? 'pre' : 'mono break'}>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
        </Fragment>
      ))}
    </dl>
  );
}
