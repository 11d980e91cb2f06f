// What the signed-in token may do, so that pages offer only the actions the server would accept
// (docs/security.md: viewer reads, operator also starts and stops runs and packs, admin also
// uploads datasets). The server still decides: this only spares a viewer buttons that answer 403.
import { createContext, useContext } from "react";

import type { Session } from "../api/client";

export interface Access {
  /** Start, cancel and retry runs; build packs and import captures. */
  operate: boolean;
  /** Upload datasets. */
  administer: boolean;
}

const RANK = { viewer: 0, operator: 1, admin: 2 } as const;

/** What `session` may do: everything on an open server, else what its role allows. */
export function accessOf(session: Session): Access {
  const rank = RANK[session.role];
  return {
    operate: session.open || rank >= RANK.operator,
    administer: session.open || rank >= RANK.admin,
  };
}

/** Everything, unless a session says otherwise (pages rendered on their own, in tests). */
export const AccessContext = createContext<Access>({ operate: true, administer: true });

export function useAccess(): Access {
  return useContext(AccessContext);
}
