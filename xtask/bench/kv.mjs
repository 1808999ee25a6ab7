// An empty Workers KV namespace for a bare `workerd serve`: every read is
// "not found", so the edge serves its built-in flag document.
export default {
  fetch() {
    return new Response(null, { status: 404 });
  },
};
