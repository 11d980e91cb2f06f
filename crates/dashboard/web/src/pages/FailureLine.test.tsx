import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { keys } from "../queries";
import { QueryWrapper, freshQueryClient } from "../testing/queryClient";

import { FailureLine } from "./Board";

afterEach(cleanup);

let client: ReturnType<typeof freshQueryClient>;
beforeEach(() => {
  client = freshQueryClient();
});

describe("a failed run's card", () => {
  it("says why it failed, the kind once", () => {
    client.setQueryData(keys.run("run-1"), {
      failure: { kind: "unauthorized", message: "unauthorized: Incorrect API key provided" },
    });
    render(<FailureLine runId="run-1" />, { wrapper: QueryWrapper });
    expect(screen.getByText("unauthorized: Incorrect API key provided")).toBeTruthy();
  });

  it("names the kind when the message does not", () => {
    client.setQueryData(keys.run("run-2"), {
      failure: { kind: "not_found", message: "The model `gpt-9` does not exist" },
    });
    render(<FailureLine runId="run-2" />, { wrapper: QueryWrapper });
    expect(screen.getByText("not_found: The model `gpt-9` does not exist")).toBeTruthy();
  });
});
