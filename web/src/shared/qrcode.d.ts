/*
 * The part of the `qrcode` package (1.5, lib/browser.js) the web app uses; the
 * package ships no types of its own.
 */
declare module 'qrcode' {
  export interface QRCodeRenderOptions {
    /** The image's width in pixels; the modules are scaled to fit. */
    width?: number;
    /** The quiet zone around the code, in modules. */
    margin?: number;
    errorCorrectionLevel?: 'L' | 'M' | 'Q' | 'H';
    color?: { dark?: string; light?: string };
  }

  /** Draws `text` as a QR code on `canvas`, resized to fit. */
  export function toCanvas(canvas: HTMLCanvasElement, text: string, options?: QRCodeRenderOptions): Promise<void>;
}
