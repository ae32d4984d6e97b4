import { render } from 'preact';

render(<p>pipit admin</p>, document.getElementById('app')!);
