/**
 * The dashboard grid's column of an app. An Argo CD Application has one destination, so an
 * ApplicationSet over clusters makes one app per cluster, by convention `<name>-<cluster>`
 * (`web-prod-1`) or `<cluster>-<name>`; the grid shows them in one column `<name>`. Any other app
 * is its own column. Pure and dependency-free: the hub (grid route) and the browser (live
 * updates, which carry only the app name) share it.
 */
export function columnOf(app: string, cluster: string): string {
  const rest = app.length - cluster.length - 1;
  if (rest > 0) {
    // Without building `-${cluster}`: this runs for every app of every cluster on each grid query.
    if (app.charCodeAt(rest) === DASH && app.endsWith(cluster)) return app.slice(0, rest);
    if (app.charCodeAt(cluster.length) === DASH && app.startsWith(cluster))
      return app.slice(cluster.length + 1);
  }
  return app;
}

const DASH = 45;
