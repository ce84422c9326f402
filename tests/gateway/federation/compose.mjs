// Composes subgraphs with Apollo's gateway and runs operations on the supergraph.
// stdin: {"subgraphs": [{"name", "url"}], "operations": [{"query", "variables"?}]}
// stdout: {"supergraph": SDL, "results": [{"data", "errors"}]}; a composition failure exits 1 with its errors.
import { ApolloGateway, IntrospectAndCompose } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const input = await readStdin();
let supergraph = "";
const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({ subgraphs: input.subgraphs }),
  logger: { debug() {}, info() {}, warn: console.error, error: console.error },
});
gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => {
  supergraph = coreSupergraphSdl;
});
const server = new ApolloServer({ gateway, includeStacktraceInErrorResponses: false });
try {
  await server.start();
} catch (error) {
  console.error(error.message);
  for (const cause of error.causes ?? []) console.error(String(cause.message ?? cause));
  process.exit(1);
}
const results = [];
for (const { query, variables } of input.operations) {
  const response = await server.executeOperation({ query, variables });
  const { data, errors } = response.body.singleResult;
  results.push({ data: data ?? null, ...(errors ? { errors } : {}) });
}
await server.stop();
process.stdout.write(JSON.stringify({ supergraph, results }));
