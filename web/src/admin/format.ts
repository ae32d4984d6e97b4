/*
 * Formatting for tables and cards: dates, "5 min ago", durations, counts and
 * rates, all in the browser's locale.
 */

export function dateTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** "just now", "5 min ago", "3 h ago", "2 d ago", then a date. */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return `in ${duration(-s)}`;
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 30 * 86400) return `${Math.round(s / 86400)} d ago`;
  return new Date(ms).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
}

/** 93784 → "1 d 2 h", 125 → "2 min", 30 → "30 s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  const [big, small, bigUnit, smallUnit] =
    s < 86400 ? [Math.floor(s / 3600), Math.floor((s % 3600) / 60), 'h', 'min'] : [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), 'd', 'h'];
  return small === 0 ? `${big} ${bigUnit}` : `${big} ${bigUnit} ${small} ${smallUnit}`;
}

const intFormat = new Intl.NumberFormat();

export function count(n: number): string {
  return intFormat.format(n);
}

/** A rate per second with as many decimals as make sense. */
export function rate(n: number): string {
  if (n === 0) return '0';
  if (n < 10) return n.toFixed(1);
  return intFormat.format(Math.round(n));
}

/** plural(1, 'key') → "1 key", plural(3, 'key') → "3 keys". */
export function plural(n: number, word: string): string {
  return `${count(n)} ${word}${n === 1 ? '' : 's'}`;
}

export function percent(part: number, whole: number): string {
  if (whole <= 0) return '–';
  const p = (part / whole) * 100;
  return `${p < 10 && p > 0 ? p.toFixed(1) : Math.round(p)}%`;
}
