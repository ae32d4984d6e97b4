/*
 * The composer's A/B test: up to 5 variants (name, weight, title and body that
 * replace the push's own) and a holdout weight, each with its share of users.
 */
import { percent } from './format';
import { Icon } from './icons';
import { MAX_VARIANTS, holdoutWeight, newKey, variantWeight, type DraftVariant } from './push-draft';
import { Field, Section, type Part } from './push-form';

export function Variants({ d, set, err }: Part) {
  const total = d.variants.reduce((s, v) => s + variantWeight(v), 0) + holdoutWeight(d);
  const update = (key: number, patch: Partial<DraftVariant>) =>
    set({ variants: d.variants.map((v) => (v.key === key ? { ...v, ...patch } : v)) });
  const add = () =>
    set({
      variants: [
        ...d.variants,
        { key: newKey(), name: String.fromCharCode(65 + d.variants.length), weight: '1', title: '', body: '' },
      ],
    });
  return (
    <Section
      title="A/B test"
      sub={d.variants.length === 0 ? 'Optional: try up to 5 versions and compare their opens.' : 'Each user gets one variant, drawn by weight.'}
      aside={
        d.variants.length < MAX_VARIANTS ? (
          <button type="button" class="btn btn-sm" onClick={add}>
            <Icon name="plus" size={14} /> Add variant
          </button>
        ) : null
      }
    >
      {d.variants.map((v, i) => (
        <fieldset key={v.key} class="variant">
          <legend class="sr-only">Variant {i + 1}</legend>
          <div class="variant-head">
            <span class="variant-badge">{String.fromCharCode(65 + i)}</span>
            <input class="input" aria-label={`Variant ${i + 1} name`} value={v.name} onInput={(e) => update(v.key, { name: e.currentTarget.value })} />
            <label class="weight">
              <span class="faint">Weight</span>
              <input
                class="input"
                type="number"
                min={1}
                max={1000}
                aria-label={`Variant ${i + 1} weight`}
                value={v.weight}
                onInput={(e) => update(v.key, { weight: e.currentTarget.value })}
              />
            </label>
            <span class="share">{percent(variantWeight(v), total)}</span>
            <button
              type="button"
              class="btn btn-ghost btn-icon"
              aria-label={`Remove variant ${i + 1}`}
              onClick={() => set({ variants: d.variants.filter((x) => x.key !== v.key) })}
            >
              <Icon name="close" size={16} />
            </button>
          </div>
          <div class="grid-2">
            <label class="mini-field">
              <span class="faint">Title, if not the push’s own</span>
              <input class="input" aria-label={`Variant ${i + 1} title`} placeholder={d.title} value={v.title} onInput={(e) => update(v.key, { title: e.currentTarget.value })} />
            </label>
            <label class="mini-field">
              <span class="faint">Body, if not the push’s own</span>
              <input class="input" aria-label={`Variant ${i + 1} body`} placeholder={d.body} value={v.body} onInput={(e) => update(v.key, { body: e.currentTarget.value })} />
            </label>
          </div>
          {err(`variant${i}`) ? <small class="error-text">{err(`variant${i}`)}</small> : null}
        </fieldset>
      ))}
      {d.variants.length > 0 ? (
        <Field label="Holdout weight" error={err('holdout')} hint={`${percent(holdoutWeight(d), total)} of users get nothing, as a baseline.`}>
          <input class="input narrow" type="number" min={0} max={1000} value={d.holdout} onInput={(e) => set({ holdout: e.currentTarget.value })} />
        </Field>
      ) : null}
    </Section>
  );
}
