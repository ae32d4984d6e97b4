/*
 * Form pieces of the push composer: a labelled field with its hint or error, a
 * card section, and a segmented control made of radio buttons.
 */
import type { ComponentChildren } from 'preact';
import type { Draft } from './push-draft';

/** What each composer section gets: the draft, a patcher, and the error of a field (if shown). */
export interface Part {
  d: Draft;
  set: (p: Partial<Draft>) => void;
  err: (f: string) => string | undefined;
}

/** Radio buttons that look like a segmented control; arrow keys move between them. */
export function Segmented<T extends string>(props: {
  legend: string;
  name: string;
  value: T;
  options: { value: T; label: string }[];
  onChange: (v: T) => void;
}) {
  return (
    <fieldset class="seg-field">
      <legend>{props.legend}</legend>
      <div class="seg">
        {props.options.map((o) => (
          <label key={o.value} class={`seg-btn${props.value === o.value ? ' on' : ''}`}>
            <input
              type="radio"
              class="sr-only"
              name={props.name}
              value={o.value}
              checked={props.value === o.value}
              onChange={() => props.onChange(o.value)}
            />
            {o.label}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

export function Field(props: { label: string; error?: string | undefined; hint?: ComponentChildren; children: ComponentChildren; extra?: ComponentChildren }) {
  return (
    <label class="field">
      <span class="field-label">
        {props.label}
        {props.extra ? <span class="faint">{props.extra}</span> : null}
      </span>
      {props.children}
      {props.error ? (
        <small class="error-text" role="alert">
          {props.error}
        </small>
      ) : props.hint ? (
        <small class="faint">{props.hint}</small>
      ) : null}
    </label>
  );
}

export function Section(props: { title: string; sub?: string; children: ComponentChildren; aside?: ComponentChildren }) {
  return (
    <section class="card card-pad form-section">
      <header class="section-head">
        <div>
          <h2>{props.title}</h2>
          {props.sub ? <p class="faint">{props.sub}</p> : null}
        </div>
        {props.aside}
      </header>
      {props.children}
    </section>
  );
}
