// Composes the Sobot simulator's calls search (openapi.yaml) into a supergraph for Hive
// Gateway. The client's Authorization header (a Sobot company token) is passed through.
import { defineConfig } from '@graphql-mesh/compose-cli'
import { loadOpenAPISubgraph } from '@omnigraph/openapi'

export const composeConfig = defineConfig({
  subgraphs: [
    {
      sourceHandler: loadOpenAPISubgraph('Sobot', {
        source: './openapi.yaml',
        endpoint: process.env.SOBOT_URL || 'http://127.0.0.1:18081',
        // A search is a read: expose it as a query, not the mutation a POST would be.
        selectQueryOrMutationField: [{ type: 'query', fieldName: 'searchCalls' }],
        operationHeaders: {
          Authorization: '{context.headers.authorization}',
          timezoneid: 'UTC',
        },
      }),
    },
  ],
})
