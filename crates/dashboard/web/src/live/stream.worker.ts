// The worker following the event stream for the board (eventStream.ts). Started with the
// position to follow from and the server's base path (a worker has no page to read it from);
// posts every StreamMessage to the page.
import { type StreamMessage, followStream } from "./eventStream";

// The worker's global scope, as far as it is used here (the DOM's types describe the page).
const scope = self as unknown as {
  onmessage: ((message: MessageEvent<{ from: string | null; base: string }>) => void) | null;
  postMessage(message: StreamMessage): void;
};

scope.onmessage = (message) => {
  scope.onmessage = null;
  if (typeof EventSource === "undefined") {
    scope.postMessage({ type: "unsupported" });
    return;
  }
  followStream(message.data.base, message.data.from, (m) => scope.postMessage(m));
};
