/**
 * The grid column of an app: an ApplicationSet makes one app per cluster, named by convention
 * `<name>-<cluster>` (or `<cluster>-<name>`), and the grid shows them in one column `<name>`.
 * The same rule as columnOf in hub/src/dashboard/grid-route.ts, which sends each cell's column;
 * the browser needs it for live changes, which carry only the app name.
 */
export function columnOf(app: string, cluster: string): string {
  if (app.length > cluster.length + 1) {
    if (app.endsWith(`-${cluster}`)) return app.slice(0, -(cluster.length + 1));
    if (app.startsWith(`${cluster}-`)) return app.slice(cluster.length + 1);
  }
  return app;
}
