// Uploads with progress: `fetch` cannot report how much of a body was sent, XMLHttpRequest can.
import { apiUrl } from "./api/base";
import { problemError, reportUnauthenticated } from "./api/client";

/** Sends `body` to the API's `url` and resolves with the JSON answer; a problem+json answer rejects as ApiError. */
export function upload<T>(
  url: string,
  body: Blob,
  contentType: string,
  onProgress: (fraction: number) => void,
): Promise<{ status: number; data: T }> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", apiUrl(url));
    request.setRequestHeader("Content-Type", contentType);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) {
        onProgress(event.loaded / event.total);
      }
    };
    request.onerror = () => reject(new Error("the server could not be reached"));
    request.onload = () => {
      let json: unknown = null;
      try {
        json = JSON.parse(request.responseText);
      } catch {
        // Not JSON: reported below by status.
      }
      if (request.status >= 200 && request.status < 300) {
        resolve({ status: request.status, data: json as T });
        return;
      }
      if (request.status === 401) {
        reportUnauthenticated();
      }
      reject(problemError(request.status, request.statusText, json));
    };
    request.send(body);
  });
}
