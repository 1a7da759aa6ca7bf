// One delegated task from graphwire's board (GET /tasks/{taskId}), for the
// task card to stay current once the conversation's run has ended.
import { authHeaders, serverUrl } from "../../../graphwire";

export async function GET(_request: Request, context: { params: Promise<{ taskId: string }> }) {
  const { taskId } = await context.params;
  const response = await fetch(`${serverUrl}/tasks/${encodeURIComponent(taskId)}`, {
    cache: "no-store",
    headers: authHeaders,
  });
  return new Response(response.body, { status: response.status, headers: response.headers });
}
