/*
 * A small dropdown menu: a button that opens a list of actions. Keyboard: the
 * first item takes focus, arrows move, Escape closes (and is consumed, so it
 * does not also close the panel around the menu), Tab leaves.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export type MenuItem = { label: string; onSelect: () => void; danger?: boolean; disabled?: boolean; testid?: string } | { heading: string };

interface MenuProps {
  /** The button's accessible name, also the list's. */
  label: string;
  button: ComponentChildren;
  items: MenuItem[];
  align?: 'left' | 'right';
  buttonClass?: string;
  testid?: string;
}

export function Menu(props: MenuProps) {
  const [open, setOpen] = useState(false);
  const [up, setUp] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (!open) return;
    root.current?.querySelector<HTMLButtonElement>('[role="menuitem"]:not(:disabled)')?.focus();
    const onDown = (e: MouseEvent) => {
      if (!root.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', onDown);
    return () => document.removeEventListener('mousedown', onDown);
  }, [open]);

  const onKey = (e: KeyboardEvent) => {
    if (!open) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      setOpen(false);
      buttonRef.current?.focus();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const items = [...(root.current?.querySelectorAll<HTMLButtonElement>('[role="menuitem"]:not(:disabled)') ?? [])];
      const at = items.indexOf(document.activeElement as HTMLButtonElement);
      const next = e.key === 'ArrowDown' ? (at + 1) % items.length : (at - 1 + items.length) % items.length;
      items[next]?.focus();
    } else if (e.key === 'Tab') {
      setOpen(false);
    }
  };

  return (
    <div class="menu" ref={root} onKeyDown={onKey}>
      <button
        ref={buttonRef}
        type="button"
        class={props.buttonClass ?? 'btn btn-ghost btn-icon'}
        aria-label={props.label}
        title={props.label}
        aria-haspopup="menu"
        aria-expanded={open}
        data-testid={props.testid}
        onClick={(e) => {
          // Near the bottom of the window the list opens upwards, so it is never cut off.
          setUp(e.currentTarget.getBoundingClientRect().bottom + 44 * props.items.length + 16 > window.innerHeight);
          setOpen(!open);
        }}
      >
        {props.button}
      </button>
      {open ? (
        <div class={`menu-list card menu-${props.align ?? 'right'}${up ? ' menu-up' : ''}`} role="menu" aria-label={props.label}>
          {props.items.map((item, i) =>
            'heading' in item ? (
              <div key={i} class="menu-heading">
                {item.heading}
              </div>
            ) : (
              <button
                key={i}
                type="button"
                role="menuitem"
                class={`menu-item${item.danger ? ' menu-danger' : ''}`}
                disabled={item.disabled}
                data-testid={item.testid}
                onClick={() => {
                  setOpen(false);
                  item.onSelect();
                }}
              >
                {item.label}
              </button>
            ),
          )}
        </div>
      ) : null}
    </div>
  );
}
