export { parseListenAddr } from './listen-addr.js';
export { serve } from './serve.js';
