/**
 * A kubeconfig (JSON) whose one cluster is loopback port 1, where nothing listens: enough for code that must load a
 * kubeconfig, and any request it sends fails at once without leaving the machine.
 */
export const UNREACHABLE_KUBECONFIG = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
  users: [{ name: 'u', user: { token: 'x' } }],
  contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
  'current-context': 'c',
});
