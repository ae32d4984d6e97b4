import { render } from 'preact';

render(<p>pipit</p>, document.getElementById('app')!);
