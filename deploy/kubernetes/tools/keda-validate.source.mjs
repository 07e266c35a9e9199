// Validates KEDA objects (ScaledObject, TriggerAuthentication) read as JSON from stdin:
// an array of manifests; prints one JSON line {"checked": N, "errors": [...]}.
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";
import { readFileSync } from "node:fs";

const kinds = { ScaledObject, TriggerAuthentication };
const docs = JSON.parse(readFileSync(0, "utf8"));
const errors = [];
let checked = 0;
for (const doc of docs) {
  if (doc.apiVersion !== "keda.sh/v1alpha1") continue;
  const Kind = kinds[doc.kind];
  if (!Kind) { errors.push(`${doc.kind}: no schema vendored for this kind`); continue; }
  checked += 1;
  try { new Kind(doc).validate(); } catch (e) { errors.push(`${doc.kind} ${doc.metadata?.name}: ${e.message}`); }
}
console.log(JSON.stringify({ checked, errors }));
