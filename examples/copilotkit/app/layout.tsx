import "@copilotkit/react-core/v2/styles.css";
import "./page.css";
import type { ReactNode } from "react";

export const metadata = { title: "graphwire + CopilotKit" };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
