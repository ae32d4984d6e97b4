/*
 * The admin console at /admin/: shared look first, then the console's own.
 */
import { render } from 'preact';
import '../shared/base.css';
import './admin.css';
import { App } from './app';

render(<App />, document.getElementById('app')!);
