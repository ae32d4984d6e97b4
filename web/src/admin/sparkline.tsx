/*
 * A sparkline: the last `slots` samples as a line over a soft area, drawn as
 * inline SVG. Until the window is full the line spans the whole width (so a
 * fresh dashboard does not look empty); then it scrolls, newest at the right. The viewBox stretches to the card's width;
 * the stroke keeps its width (non-scaling-stroke), so it stays crisp at any size.
 */
const W = 240;
const H = 48;

export function Sparkline(props: { values: number[]; slots: number; label: string; zeroBased?: boolean }) {
  const values = props.values.slice(-props.slots);
  const zeroBased = props.zeroBased ?? true;
  const hi = Math.max(...values, zeroBased ? 1 : -Infinity);
  const lo = zeroBased ? 0 : Math.min(...values);
  const span = hi - lo;
  const step = W / Math.max(values.length - 1, 1);
  const x = (i: number) => W - (values.length - 1 - i) * step;
  // 4 units of head and foot room so the line never touches the edges; a flat
  // series that is not zero-based (a size) sits mid-height.
  const y = (v: number) => (span === 0 ? H / 2 : H - 4 - ((v - lo) / span) * (H - 8));
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  const line = points.length > 0 ? `M${points.join('L')}` : '';
  const area = points.length > 1 ? `${line}L${x(values.length - 1)},${H}L${x(0)},${H}Z` : '';
  const last = values.length > 0 ? values[values.length - 1]! : null;
  const first = values.length > 0 ? values[0]! : null;
  return (
    <svg class="spark" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={props.label}>
      <line class="spark-base" x1="0" y1={H - 0.5} x2={W} y2={H - 0.5} vector-effect="non-scaling-stroke" />
      {area ? <path class="spark-area" d={area} /> : null}
      {line ? <path class="spark-line" d={line} vector-effect="non-scaling-stroke" /> : null}
      {first !== null && last !== null && values.length === 1 ? (
        <line class="spark-line" x1="0" y1={y(first)} x2={W} y2={y(last)} vector-effect="non-scaling-stroke" />
      ) : null}
    </svg>
  );
}
