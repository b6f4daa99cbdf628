// Live pages: what they show is fetched again every few seconds, for as long as they are shown.
import { errorMessage } from "./api.js";

/**
 * Calls `refresh` every `intervalMs` while `page` is in the document, skipping the calls while the
 * tab is hidden. It stops for good once the page leaves the document (the operator went to another
 * page, or signed out), checked before each call, so a page left behind never fetches again.
 * `status` says when the page was last refreshed (the page has just been, when this is called),
 * or why it could not be.
 * @param {Element} page
 * @param {number} intervalMs
 * @param {() => Promise<void>} refresh
 * @param {Element} status
 */
export function refreshWhileShown(page, intervalMs, refresh, status) {
  const seconds = intervalMs / 1000;
  const refreshed = () =>
    (status.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${seconds} s.`);
  const tick = async () => {
    if (!page.isConnected) return;
    if (document.visibilityState === "visible") {
      try {
        await refresh();
        refreshed();
      } catch (error) {
        status.textContent = `Could not refresh (${errorMessage(error)}); trying again in ${seconds} s.`;
      }
    }
    setTimeout(tick, intervalMs);
  };
  refreshed();
  setTimeout(tick, intervalMs);
}
