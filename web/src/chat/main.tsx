/*
 * The chat web app at /: shared look first, then the app's own.
 */
import { render } from 'preact';
import '../shared/base.css';
import './chat.css';
import { App } from './app';

render(<App />, document.getElementById('app')!);
