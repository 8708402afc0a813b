// Reads a JSON array of Kubernetes objects on stdin; writes a JSON array with, for each object,
// the list of its errors against the published schema of its kind (empty: valid).
import * as argo from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1";
import * as monitoring from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const models = {
  "argoproj.io/v1alpha1": argo,
  "monitoring.coreos.com/v1": monitoring,
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = JSON.parse(input).map((obj) => {
  const model = models[obj.apiVersion]?.[obj.kind];
  if (!model) return [`no published schema for ${obj.apiVersion} ${obj.kind}`];
  try {
    new model(obj).validate();
    return [];
  } catch (error) {
    return error.message.split(", ");
  }
});
process.stdout.write(JSON.stringify(results));
