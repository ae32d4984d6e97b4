/*
 * The few line icons the chat app draws, as inline SVG (no icon font: the CSP
 * allows no external fonts, and these stay crisp at any size). Decorative: the
 * buttons that hold them carry the label.
 */
import type { ComponentChildren } from 'preact';
import { IconSvg } from '../shared/ui';

function Icon(props: { children: ComponentChildren; size?: number }) {
  return <IconSvg size={props.size ?? 20}>{props.children}</IconSvg>;
}

export const IconBack = () => (
  <Icon>
    <path d="M15 5l-7 7 7 7" />
  </Icon>
);
export const IconCompose = () => (
  <Icon>
    <path d="M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16v4z" />
    <path d="M13.5 6.5l4 4" />
  </Icon>
);
export const IconSearch = (p: { size?: number }) => (
  <Icon size={p.size ?? 18}>
    <circle cx="11" cy="11" r="6.5" />
    <path d="M16 16l4.5 4.5" />
  </Icon>
);
export const IconSend = () => (
  <Icon>
    <path d="M4 12l16-8-6 16-2.5-6.5L4 12z" />
  </Icon>
);
export const IconReply = () => (
  <Icon size={16}>
    <path d="M9 7L4 12l5 5" />
    <path d="M4 12h10a6 6 0 0 1 6 6v1" />
  </Icon>
);
export const IconEdit = () => (
  <Icon size={16}>
    <path d="M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16v4z" />
  </Icon>
);
export const IconRecall = () => (
  <Icon size={16}>
    <path d="M4 9h11a5 5 0 0 1 0 10H9" />
    <path d="M8 5L4 9l4 4" />
  </Icon>
);
export const IconCopy = () => (
  <Icon size={16}>
    <rect x="9" y="9" width="11" height="11" rx="2" />
    <path d="M5 15V6a2 2 0 0 1 2-2h9" />
  </Icon>
);
export const IconInfo = () => (
  <Icon>
    <circle cx="12" cy="12" r="9" />
    <path d="M12 11v5M12 8h.01" />
  </Icon>
);
export const IconClose = (p: { size?: number }) => (
  <Icon size={p.size ?? 20}>
    <path d="M6 6l12 12M18 6L6 18" />
  </Icon>
);
export const IconBellOff = () => (
  <Icon size={14}>
    <path d="M9 18a3 3 0 0 0 6 0" />
    <path d="M6 9a6 6 0 0 1 9.5-4.9M18 11v3l2 3H8" />
    <path d="M3 3l18 18" />
  </Icon>
);
export const IconAlert = () => (
  <Icon size={14}>
    <circle cx="12" cy="12" r="9" />
    <path d="M12 7.5v5.5M12 16.5h.01" />
  </Icon>
);
export const IconClock = () => (
  <Icon size={14}>
    <circle cx="12" cy="12" r="8.5" />
    <path d="M12 7.5V12l3 2" />
  </Icon>
);
export const IconMore = () => (
  <Icon size={18}>
    <circle cx="5.5" cy="12" r="1" />
    <circle cx="12" cy="12" r="1" />
    <circle cx="18.5" cy="12" r="1" />
  </Icon>
);
export const IconDown = () => (
  <Icon size={18}>
    <path d="M12 5v14M6 13l6 6 6-6" />
  </Icon>
);
export const IconChat = (p: { size?: number }) => (
  <Icon size={p.size ?? 40}>
    <path d="M5 18.5V7a3 3 0 0 1 3-3h8a3 3 0 0 1 3 3v6a3 3 0 0 1-3 3H9l-4 2.5z" />
  </Icon>
);
export const IconMegaphone = () => (
  <Icon size={16}>
    <path d="M4 10v4h3l7 4.5v-13L7 10H4z" />
    <path d="M17.5 9a4 4 0 0 1 0 6" />
  </Icon>
);
export const IconAttach = () => (
  <Icon>
    <path d="M20 11.5l-7.8 7.8a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8" />
  </Icon>
);
export const IconFile = (p: { size?: number }) => (
  <Icon size={p.size ?? 22}>
    <path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8l-5-5z" />
    <path d="M14 3v5h5" />
  </Icon>
);
export const IconDownload = (p: { size?: number }) => (
  <Icon size={p.size ?? 18}>
    <path d="M12 4v11M7 10.5l5 5 5-5" />
    <path d="M5 19.5h14" />
  </Icon>
);
export const IconImage = (p: { size?: number }) => (
  <Icon size={p.size ?? 22}>
    <rect x="3.5" y="4.5" width="17" height="15" rx="2.5" />
    <circle cx="9" cy="10" r="1.6" />
    <path d="M20.5 16l-5-5-9 8.5" />
  </Icon>
);
export const IconUpload = () => (
  <Icon size={40}>
    <path d="M12 16V5M7 9.5l5-5 5 5" />
    <path d="M5 15v3.5A1.5 1.5 0 0 0 6.5 20h11a1.5 1.5 0 0 0 1.5-1.5V15" />
  </Icon>
);
