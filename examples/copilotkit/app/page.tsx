"use client";
// A chat with graphwire's demo agent. Try "weather in Paris", "deploy to
// staging" (an approval, answered through the AG-UI interrupt/resume
// handshake) and "deploy to staging in the background" (a delegated task,
// shown as a graphwire.task activity while the reply streams).
import { CopilotKit } from "@copilotkit/react-core";
import { CopilotChat } from "@copilotkit/react-ui";

export default function Page() {
  return (
    <CopilotKit runtimeUrl="/api/copilotkit" useSingleEndpoint={false}>
      <main style={{ height: "100vh" }}>
        <CopilotChat labels={{ title: "graphwire demo" }} />
      </main>
    </CopilotKit>
  );
}
