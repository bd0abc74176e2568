// @qmpkit/dashboard/node — the dashboard's HTTP server and its QMP feeds.

export {
  type Dashboard,
  type DashboardOptions,
  type DashboardTarget,
  isLoopback,
  startDashboard,
} from './server.js';
