// The only place that names the third-party code. Relative paths (not bare specifiers) so that a browser can load
// this file with <script type="module"> straight from a static server that also serves node_modules/, with no
// bundler and no import map. WebCrypto is deliberately not used: it is missing on plain-http, non-localhost pages.
import { Point } from './node_modules/@noble/ed25519/index.js';
import { sha256, sha512 } from './node_modules/@noble/hashes/sha2.js';

export { Point, sha256, sha512 };
