// cep-promise (npm's most-downloaded ViaCEP client, unmodified) asked for CEPs, with ViaCEP's address
// pointed at a CEP API: node viacep_client.cjs http://127.0.0.1:8001 01001000 [99999999 ...]
//
// cep-promise calls https://viacep.com.br/ws/{cep}/json/ through node-fetch. Before cep-promise is
// loaded, node-fetch's entry in Node's module cache is replaced by a wrapper that sends the same request
// (method, headers, timeout) to the CEP API instead: the rest of the HTTP, and all of cep-promise's
// code, run as they are. Any other address is refused, so nothing ever leaves the machine.
//
// Prints one JSON line per CEP: {"cep", "ok": true, "address": {...}, "requested": [...]} or
// {"cep", "ok": false, "error": {"name", "message", "type", "errors"}, "requested": [...]}.
'use strict'

const [base, ...ceps] = process.argv.slice(2)
if (!base || ceps.length === 0) {
  console.error('usage: node viacep_client.cjs BASE_URL CEP [CEP...]')
  process.exit(2)
}

const nodeFetchPath = require.resolve('node-fetch', { paths: [require.resolve('cep-promise')] })
const realFetch = require(nodeFetchPath)
let requested = []

function redirectedFetch (url, options) {
  const asked = new URL(url)
  if (asked.origin !== 'https://viacep.com.br') {
    return Promise.reject(new Error(`refused: only ViaCEP is redirected, not ${asked.origin}`))
  }
  const target = new URL(asked.pathname + asked.search, base).href
  requested.push(target)
  return realFetch(target, options)
}
Object.assign(redirectedFetch, realFetch) // Headers, Request, Response, FetchError...
redirectedFetch.default = redirectedFetch
require.cache[nodeFetchPath].exports = redirectedFetch

const cep = require('cep-promise')

function plain (error) {
  return {
    name: error.name,
    message: error.message,
    type: error.type,
    errors: (error.errors || []).map((each) => ({ name: each.name, message: each.message, service: each.service }))
  }
}

async function main () {
  for (const value of ceps) {
    requested = []
    try {
      const address = await cep(value, { providers: ['viacep'], timeout: 5000 })
      console.log(JSON.stringify({ cep: value, ok: true, address, requested }))
    } catch (error) {
      console.log(JSON.stringify({ cep: value, ok: false, error: plain(error), requested }))
    }
  }
}

main()
